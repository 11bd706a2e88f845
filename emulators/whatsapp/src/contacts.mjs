// Contact accounts: people with WhatsApp on their phone (device 0 only), whom salons write to and
// who write back. Each has a number, a LID, a display name and a Signal identity of its own. A
// number that is not here (or lost its account) is not on WhatsApp.
import { randomInt } from 'node:crypto'
import { Handset } from './handset.mjs'

const CONTACT_PHONE_PREFIX = '7999100'

export class Contacts {
  constructor() {
    this.byPhone = new Map() // every contact ever created, registered or not
    this.byLid = new Map() // LID user -> registered contact
    this.seq = 0
  }

  /** A new account on `phone` (default: the next free 7999100NNNN); replaces one that lost its account. */
  create({ phone, name }) {
    if (!phone) {
      do phone = CONTACT_PHONE_PREFIX + String(++this.seq).padStart(4, '0')
      while (this.byPhone.has(phone))
    }
    const contact = new Handset({
      phone,
      lidUser: String(randomInt(10 ** 13, 10 ** 14)),
      name: name ?? `Contact ${phone.slice(-4)}`
    })
    this.byPhone.set(phone, contact)
    this.byLid.set(contact.lidUser, contact)
    return contact
  }

  /** The registered contact on a number, or undefined. */
  byNumber(phone) {
    const contact = this.byPhone.get(phone)
    return contact?.registered ? contact : undefined
  }

  byLidUser(lidUser) {
    return this.byLid.get(lidUser)
  }

  /** The number loses its WhatsApp account: it is no longer found, its sessions are gone. */
  deregister(contact) {
    contact.registered = false
    this.byLid.delete(contact.lidUser)
  }

  list() {
    return [...this.byPhone.values()]
  }
}
