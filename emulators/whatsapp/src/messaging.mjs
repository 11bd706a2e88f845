// The server side of 1:1 texts between salons' logins (the real Baileys) and the phones the emulator
// plays itself: contacts' phones and salons' own primary phones (Handsets). It keeps the pre-keys a
// login uploads, answers device lists (usync.mjs) and pre-key bundles, routes <message> stanzas to
// the addressed phones with the server ack, carries receipts both ways, queues what an offline login
// misses (delivery.mjs), records chat states, and applies the limits on new chats (new-chat-limits.mjs).
import {
  encodeBigEndian,
  encodeWAMessage,
  extractE2ESessionFromRetryReceipt,
  generateMessageIDV2,
  getBinaryNodeChild,
  getBinaryNodeChildren,
  jidDecode,
  jidNormalizedUser
} from 'baileys'
import { Contacts } from './contacts.mjs'
import { Delivery } from './delivery.mjs'
import { Handset, kindOf, textOf } from './handset.mjs'
import { log } from './log.mjs'
import { NewChatLimits } from './new-chat-limits.mjs'
import { PhoneError } from './phone.mjs'
import { bundleNode, libsignalDevice, PreKeyStore } from './prekey-store.mjs'
import { signalAddress } from './signal-party.mjs'
import { usyncResult } from './usync.mjs'

const unixNow = () => Math.floor(Date.now() / 1000)
const firstChild = node => (Array.isArray(node.content) ? node.content[0] : undefined)
const deviceAddress = device => signalAddress(jidDecode(device.lid).user, device.deviceId)

/** `<receipt>` from a phone: no type = delivered, 'read', 'retry'. */
const receiptNode = (from, id, type, content) => ({
  tag: 'receipt',
  attrs: { from, id, t: String(unixNow()), ...(type && { type }) },
  content
})

/** The server's answer to a message stanza; an `error` (e.g. 463) refuses it. */
const messageAck = (node, error) => ({
  tag: 'ack',
  attrs: { class: 'message', id: node.attrs.id, from: node.attrs.to, t: String(unixNow()), ...(error && { error }) }
})

/** `<participants><to jid><enc/></to>…</participants>`, or for a resend to one device an `<enc>` with the device in `to`. */
const encryptedParts = node => {
  const participants = getBinaryNodeChild(node, 'participants')
  if (!participants) {
    const enc = getBinaryNodeChild(node, 'enc')
    return enc ? [{ jid: node.attrs.to, enc }] : []
  }
  return getBinaryNodeChildren(participants, 'to')
    .map(to => ({ jid: to.attrs.jid, enc: getBinaryNodeChild(to, 'enc') }))
    .filter(part => part.enc)
}

/**
 * A phone's text as the server delivers it to a device. WhatsApp addresses 1:1 messages by number
 * or, more and more, by LID; the sender's other form rides along (sender_lid / sender_pn).
 */
const phoneMessage = (handset, sent, enc, encAttrs) => ({
  tag: 'message',
  attrs: {
    ...(sent.addressing === 'lid' ? { from: handset.lid, sender_pn: handset.jid } : { from: handset.jid, sender_lid: handset.lid }),
    id: sent.id,
    t: String(sent.t),
    type: 'text',
    notify: handset.name
  },
  content: [{ tag: 'enc', attrs: { v: '2', type: enc.type, ...encAttrs }, content: enc.ciphertext }]
})

const listIn = (map, key) => {
  let list = map.get(key)
  if (!list) map.set(key, (list = []))
  return list
}

export class Messaging {
  constructor(registry, { presetContacts = 0 } = {}) {
    this.registry = registry
    this.contacts = new Contacts()
    this.ownPhones = new Map() // salon phone -> Handset of its primary phone
    this.preKeys = new Map() // device -> PreKeyStore of what it uploaded
    this.delivery = new Delivery()
    this.limits = new NewChatLimits()
    this.outboxes = new Map() // salon phone -> [{id, to, at, error?, devices}] as the server routed them
    this.chatStates = new Map() // salon phone -> [{from, kind, state, to?, media?, at}]
    for (let i = 0; i < presetContacts; i++) this.contacts.create({})
  }

  /** The phone (device 0) of the user a jid names, a contact's or a salon's own; undefined: no account. */
  handsetOf(jid) {
    const { user, server } = jidDecode(jid) ?? {}
    if (server === 'lid') return this.contacts.byLidUser(user) ?? this.ownPhone(this.registry.lids.get(user))
    if (server === 's.whatsapp.net') return this.contacts.byNumber(user) ?? this.ownPhone(this.registry.accounts.get(user))
  }

  /** A salon's primary phone; its Signal identity is the account key that signed the companion. */
  ownPhone(account) {
    if (!account) return undefined
    let phone = this.ownPhones.get(account.phone)
    if (!phone) {
      phone = new Handset({ phone: account.phone, lidUser: account.lidUser, identity: account.identity })
      this.ownPhones.set(account.phone, phone)
    }
    return phone
  }

  /** Takes the messaging stanzas of a logged-in device; false leaves the node to answers.mjs. */
  handle(conn, node) {
    switch (node.tag) {
      case 'message':
        this.onMessage(conn, node)
        return true
      case 'receipt':
        this.onReceipt(conn, node)
        return true
      case 'ack':
        return this.onAck(conn, node)
      case 'chatstate':
      case 'presence':
        this.onChatState(conn, node)
        return true
      case 'iq': {
        const answer = IQ_ANSWERS[`${node.attrs.xmlns} ${firstChild(node)?.tag}`]
        if (!answer || (node.attrs.type !== 'get' && node.attrs.type !== 'set')) return false
        conn.result(node, answer.call(this, conn, node))
        return true
      }
      default:
        return false
    }
  }

  /** The login's socket is ready for what waited: returns the count for `<ib><offline count/>`. */
  takeOfflineBatch(conn) {
    return this.delivery.takeOfflineBatch(conn)
  }

  onMessage(conn, node) {
    const sender = conn.device
    const entry = { id: node.attrs.id, to: node.attrs.to, at: Date.now(), devices: [] }
    listIn(this.outboxes, sender.phone).push(entry)
    const target = this.handsetOf(node.attrs.to)
    const newChat = target && target.phone !== sender.phone && !target.peers.has(sender.phone)
    if (newChat && this.limits.isLocked(sender.phone)) {
      log.info(`${conn.id}: ${entry.id} to ${entry.to} refused with 463 (reach-out time-lock)`)
      entry.error = '463'
      return conn.send(messageAck(node, '463'))
    }
    conn.send(messageAck(node))
    const t = unixNow()
    for (const { jid, enc } of encryptedParts(node)) {
      // only phones (device 0) are emulated; other linked devices get no copies
      const handset = !jidDecode(jid)?.device && this.handsetOf(jid)
      if (!handset) {
        log.debug(`${conn.id}: ${entry.id} for ${jid}: no such device, dropped`)
        continue
      }
      entry.devices.push(jid)
      const delivery = { sender, id: entry.id, t, chat: jidNormalizedUser(jid), enc }
      handset.serially(() => this.receive(handset, delivery)).catch(err => log.warn(`${handset.phone}: ${err.stack}`))
    }
  }

  /** What a phone does with a message addressed to it (one at a time per phone). */
  async receive(handset, delivery) {
    const { sender, id, t, chat, enc } = delivery
    const isCopy = handset.phone === sender.phone // the salon's own phone gets a copy of what its login sent
    const address = deviceAddress(sender)
    if (!isCopy && handset.behaviour.neverDeliver) {
      handset.held.push({ id, from: sender.jid, at: Date.now(), delivery })
      return
    }
    if (!isCopy && handset.behaviour.retryOnce) {
      handset.behaviour.retryOnce = false
      return this.askRetry(handset, address, delivery)
    }
    let message
    try {
      message = await handset.open(address, enc)
    } catch (err) {
      log.warn(`${handset.phone}: cannot decrypt ${id} from ${sender.jid}: ${err.message}`)
      return isCopy ? undefined : this.askRetry(handset, address, delivery)
    }
    const content = message.deviceSentMessage?.message ?? message
    handset.received.set(id, {
      id,
      from: sender.jid,
      chat,
      type: enc.attrs.type,
      text: textOf(content),
      kind: kindOf(content),
      t,
      at: Date.now(),
      ...(isCopy && { destination: message.deviceSentMessage?.destinationJid ?? null })
    })
    const retry = handset.retries.get(id)
    if (retry) retry.resent = true
    if (isCopy) return
    handset.peers.add(sender.phone)
    this.delivery.send(sender, receiptNode(chat, id))
    if (handset.behaviour.autoRead) this.delivery.send(sender, receiptNode(chat, id, 'read'))
  }

  /** As a phone that could not decrypt: drop the session, ask the sender to send the message again. */
  askRetry(handset, address, { sender, id, t, chat }) {
    handset.party.forget(address)
    const count = (handset.retries.get(id)?.count ?? 0) + 1
    handset.retries.set(id, { id, from: sender.jid, count, at: Date.now(), acked: false, resent: false })
    this.delivery.send(
      sender,
      receiptNode(chat, id, 'retry', [
        { tag: 'retry', attrs: { count: String(count), id, t: String(t), v: '1' } },
        { tag: 'registration', attrs: {}, content: encodeBigEndian(handset.party.registrationId, 4) }
      ])
    )
  }

  /** A contact's phone comes back: what it did not take while never-deliver was on arrives now. */
  releaseHeld(handset) {
    const held = handset.held
    handset.held = []
    for (const { delivery } of held) {
      handset.serially(() => this.receive(handset, delivery)).catch(err => log.warn(`${handset.phone}: ${err.stack}`))
    }
  }

  /** Baileys' receipts for what a phone sent: none-typed (inactive/active), read, retry… */
  onReceipt(conn, node) {
    const handset = this.handsetOf(node.attrs.to)
    if (!handset) return
    const ids = [node.attrs.id, ...getBinaryNodeChildren(getBinaryNodeChild(node, 'list'), 'item').map(item => item.attrs.id)]
    const receipt = { from: conn.device.jid, type: node.attrs.type ?? 'delivery', at: Date.now() }
    for (const id of ids) handset.sent.get(id)?.receipts.push(receipt)
    if (node.attrs.type === 'retry') {
      handset.serially(() => this.resend(handset, conn.device, node)).catch(err => log.warn(`${handset.phone}: ${err.stack}`))
    }
  }

  /**
   * Baileys could not decrypt a phone's message and asks again: a new session, from the keys in the
   * retry receipt or else a fresh bundle of the device, and the same message with the retry count.
   */
  async resend(handset, device, receipt) {
    const sent = handset.sent.get(receipt.attrs.id)
    if (!sent) return
    const address = deviceAddress(device)
    handset.party.forget(address)
    const keys = extractE2ESessionFromRetryReceipt(receipt) ?? libsignalDevice(this.preKeys.get(device).takeBundle())
    await handset.party.startSession(address, keys)
    const enc = await handset.party.encrypt(address, encodeWAMessage({ conversation: sent.text }))
    const count = getBinaryNodeChild(receipt, 'retry')?.attrs.count ?? '1'
    this.delivery.send(device, phoneMessage(handset, sent, enc, { count }))
  }

  /**
   * Baileys acks what it is sent. The ack of a retry receipt comes once it has resent the message (or
   * found it could not); a message ack with an error is its nack of a phone's message. Acks of
   * anything else (notifications…) are not messaging's: false.
   */
  onAck(conn, node) {
    const { class: kind, type, to, id, error } = node.attrs
    const handset = (kind === 'receipt' || kind === 'message') && this.handsetOf(to)
    if (!handset) return false
    if (kind === 'receipt' && type === 'retry') {
      // queued behind the resend's decryption, so `acked` means the retry is settled
      handset.serially(() => {
        const retry = handset.retries.get(id)
        if (retry) retry.acked = true
      })
    } else if (kind === 'message' && error) {
      handset.sent.get(id)?.receipts.push({ from: conn.device.jid, type: 'nack', error, at: Date.now() })
    }
    return true
  }

  onChatState(conn, node) {
    const child = firstChild(node)
    const entry = { from: conn.device.jid, kind: node.tag, at: Date.now() }
    if (node.tag === 'chatstate') {
      entry.state = child?.tag
      if (child?.attrs.media) entry.media = child.attrs.media
    } else {
      entry.state = node.attrs.type ?? 'available'
    }
    if (node.attrs.to) entry.to = node.attrs.to
    listIn(this.chatStates, conn.device.phone).push(entry)
  }

  /** A contact writes to a salon: encrypted to each of its logged-in devices' uploaded bundle. */
  async contactSends(contact, account, { text, addressing }) {
    const devices = [...account.devices.values()].filter(device => !device.loggedOut && this.preKeys.has(device))
    if (!devices.length) throw new PhoneError(409, `${account.phone} has no logged-in device that uploaded its keys`)
    const id = generateMessageIDV2(contact.jid)
    const t = unixNow()
    const plaintext = encodeWAMessage({ conversation: text })
    const sent = { id, to: account.phone, text, addressing, t, at: Date.now(), devices: [], receipts: [] }
    contact.sent.set(id, sent)
    contact.peers.add(account.phone)
    for (const device of devices) {
      const enc = await contact.serially(() => this.encryptFor(contact, device, plaintext))
      const queued = !this.delivery.send(device, phoneMessage(contact, sent, enc))
      sent.devices.push({ jid: device.jid, type: enc.type, queued })
    }
    return { id, t, devices: sent.devices }
  }

  async encryptFor(handset, device, plaintext) {
    const address = deviceAddress(device)
    if (!handset.party.hasSession(address)) {
      await handset.party.startSession(address, libsignalDevice(this.preKeys.get(device).takeBundle()))
    }
    return handset.party.encrypt(address, plaintext)
  }

  /** A phone reads a message it received: the read receipt goes to the device that sent it. */
  read(handset, id) {
    const message = handset.received.get(id)
    if (!message) throw new PhoneError(404, `${handset.phone} received no message ${id}`)
    const { user, device } = jidDecode(message.from)
    const delivered = this.delivery.send(this.registry.findDevice(user, device), receiptNode(message.chat, id, 'read'))
    message.readAt = Date.now()
    return { id, to: message.from, queued: !delivered }
  }

  /** Sets or lifts an account's reach-out time-lock; its devices are told, as the server does. */
  setTimelock(account, lock) {
    this.notifyDevices(account, this.limits.setLock(account.phone, lock))
    return lock
  }

  /** Sets an account's new-chat message cap (reported, not enforced); its devices are told. */
  setMessageCap(account, cap) {
    this.notifyDevices(account, this.limits.setCap(account.phone, cap))
    return cap
  }

  notifyDevices(account, notification) {
    for (const device of account.devices.values()) {
      if (!device.loggedOut) this.delivery.send(device, notification)
    }
  }
}

// iq queries of a logged-in device about messaging -> the content of the `result`
const IQ_ANSWERS = {
  // how many of its one-time pre-keys the server still holds; under 5 Baileys uploads more
  'encrypt count'(conn) {
    return [{ tag: 'count', attrs: { value: String(this.preKeys.get(conn.device)?.count ?? 0) } }]
  },
  'encrypt registration'(conn, iq) {
    let store = this.preKeys.get(conn.device)
    if (!store) this.preKeys.set(conn.device, (store = new PreKeyStore()))
    store.upload(iq)
  },
  'encrypt rotate'(conn, iq) {
    this.preKeys.get(conn.device)?.rotate(iq)
  },
  // pre-key bundles of phones (device 0) to start sessions with; unknown users are left out
  'encrypt key'(conn, iq) {
    const users = getBinaryNodeChildren(getBinaryNodeChild(iq, 'key'), 'user').flatMap(({ attrs: { jid } }) => {
      const handset = !jidDecode(jid)?.device && this.handsetOf(jid)
      return handset ? [bundleNode(jid, handset.party.takeBundle())] : []
    })
    return [{ tag: 'list', attrs: {}, content: users }]
  },
  'usync usync'(conn, iq) {
    return usyncResult(iq, jid => this.handsetOf(jid))
  },
  'w:mex query'(conn, iq) {
    const result = this.limits.mexResult(iq, conn.device.phone)
    return result ? [result] : undefined
  },
  // the trusted_contact privacy token Baileys issues after a message: an empty result will do
  'privacy tokens'() {}
}
