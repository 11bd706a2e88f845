// Control API routes for messaging: contacts and what they do, what phones received, what the
// server saw of a login's messages and chat states, and the limits on new chats.
import { PhoneError } from './phone.mjs'

const BEHAVIOURS = ['autoRead', 'neverDeliver', 'retryOnce']
const CAPPING_STATUSES = ['NONE', 'FIRST_WARNING', 'SECOND_WARNING', 'CAPPED']

const phoneOf = value => {
  const phone = value && String(value).replace(/^\+/, '')
  if (!phone || !/^\d{5,15}$/.test(phone)) throw new PhoneError(400, 'a phone number (digits) is required')
  return phone
}

const contactOf = (messaging, value) => {
  const contact = messaging.contacts.byPhone.get(phoneOf(value))
  if (!contact) throw new PhoneError(404, 'unknown contact')
  return contact
}

const accountOf = (registry, value) => {
  const account = registry.accounts.get(phoneOf(value))
  if (!account) throw new PhoneError(404, 'unknown salon phone')
  return account
}

/** Routes read `registry.messaging` on each call: a reset replaces it. */
export const messagingRoutes = registry => ({
  'POST /contacts': body => {
    const { messaging } = registry
    const phone = body.phone === undefined ? undefined : phoneOf(body.phone)
    if (phone && (messaging.contacts.byNumber(phone) || registry.accounts.has(phone))) {
      throw new PhoneError(409, `${phone} already has an account`)
    }
    return messaging.contacts.create({ phone, name: body.name === undefined ? undefined : String(body.name) }).describe()
  },

  'GET /contacts': () => registry.messaging.contacts.list().map(contact => contact.describe()),

  'POST /contacts/behaviour': body => {
    const contact = contactOf(registry.messaging, body.phone)
    for (const name of BEHAVIOURS) {
      if (body[name] !== undefined) contact.behaviour[name] = body[name] === true
    }
    if (!contact.behaviour.neverDeliver) registry.messaging.releaseHeld(contact)
    return contact.describe()
  },

  'POST /contacts/deregister': body => {
    const contact = contactOf(registry.messaging, body.phone)
    registry.messaging.contacts.deregister(contact)
    return contact.describe()
  },

  'POST /contacts/send': body => {
    const contact = contactOf(registry.messaging, body.from)
    if (!contact.registered) throw new PhoneError(409, `${contact.phone} has no account any more`)
    const account = accountOf(registry, body.to)
    if (typeof body.text !== 'string' || !body.text) throw new PhoneError(400, 'text is required')
    const addressing = body.addressing ?? 'pn'
    if (addressing !== 'pn' && addressing !== 'lid') throw new PhoneError(400, 'addressing is "pn" or "lid"')
    return registry.messaging.contactSends(contact, account, { text: body.text, addressing })
  },

  'POST /contacts/read': body => {
    if (!body.id) throw new PhoneError(400, 'id is required')
    return registry.messaging.read(contactOf(registry.messaging, body.phone), String(body.id))
  },

  'GET /messages': query => {
    // a salon's own phone, or a contact's (also one that lost its account)
    const phone = phoneOf(query.phone)
    const handset = registry.messaging.handsetOf(`${phone}@s.whatsapp.net`) ?? contactOf(registry.messaging, phone)
    return handset.messages()
  },

  'GET /outbox': query => registry.messaging.outboxes.get(accountOf(registry, query.phone).phone) ?? [],

  'GET /chatstates': query => registry.messaging.chatStates.get(accountOf(registry, query.phone).phone) ?? [],

  'POST /reachout-timelock': body => {
    const account = accountOf(registry, body.phone)
    const endsAt = Number(body.endsAt ?? 0)
    if (!Number.isInteger(endsAt) || endsAt < 0) throw new PhoneError(400, 'endsAt is a unix time in seconds')
    const lock = { active: body.active === true, endsAt, enforcementType: String(body.enforcementType ?? 'DEFAULT') }
    return registry.messaging.setTimelock(account, lock)
  },

  'POST /message-capping': body => {
    const account = accountOf(registry, body.phone)
    const [totalQuota, usedQuota, cycleEndsAt] = [body.totalQuota, body.usedQuota ?? 0, body.cycleEndsAt ?? 0].map(Number)
    if (![totalQuota, usedQuota, cycleEndsAt].every(n => Number.isInteger(n) && n >= 0)) {
      throw new PhoneError(400, 'totalQuota, usedQuota and cycleEndsAt (unix seconds) are non-negative integers')
    }
    const status = String(body.status ?? 'NONE')
    if (!CAPPING_STATUSES.includes(status)) throw new PhoneError(400, `status is one of ${CAPPING_STATUSES.join(', ')}`)
    const cap = {
      total_quota: totalQuota,
      used_quota: usedQuota,
      capping_status: status,
      server_sent_timestamp: String(Math.floor(Date.now() / 1000)),
      ...(cycleEndsAt && { cycle_end_timestamp: String(cycleEndsAt) })
    }
    return registry.messaging.setMessageCap(account, cap)
  }
})
