// A phone the emulator plays itself, as device 0 of a number: a contact's phone, or a salon's own
// primary phone. It has a Signal identity of its own, decrypts what is addressed to it, and keeps
// what it received, what it sent (with the receipts that came back) and the retries it asked for.
import { jidEncode, proto, unpadRandomMax16 } from 'baileys'
import { SignalParty } from './signal-party.mjs'

export class Handset {
  /** `identity`: the account's own key pair for a salon's phone; contacts get a new one. */
  constructor({ phone, lidUser, name = null, identity }) {
    this.phone = phone
    this.lidUser = lidUser
    this.name = name
    this.identity = identity
    this.signalParty = null
    this.registered = true
    this.behaviour = { autoRead: false, neverDeliver: false, retryOnce: false }
    this.received = new Map() // message id -> what was decrypted
    this.sent = new Map() // message id -> what this phone sent, with the receipts that came back
    this.retries = new Map() // message id -> retry receipt this phone sent
    this.held = [] // messages not delivered while behaviour.neverDeliver is on
    this.peers = new Set() // salon numbers this phone exchanged messages with
    this.queue = Promise.resolve()
  }

  /** Made on first use: signing the pre-key takes some 22 ms of pure-JS curve arithmetic. */
  get party() {
    this.signalParty ??= new SignalParty(this.identity)
    return this.signalParty
  }

  get jid() {
    return jidEncode(this.phone, 's.whatsapp.net')
  }

  get lid() {
    return jidEncode(this.lidUser, 'lid')
  }

  /** Runs `task` after the ones before it: one Signal operation at a time, in arrival order. */
  serially(task) {
    const run = this.queue.then(task)
    this.queue = run.catch(() => {})
    return run
  }

  /** Decrypts an `<enc>` from the device at `address`, unpads and decodes the proto.Message. */
  async open(address, enc) {
    const padded = await this.party.decrypt(address, enc.attrs.type, enc.content)
    return proto.Message.decode(unpadRandomMax16(padded))
  }

  describe() {
    const { phone, jid, lid, name, registered, behaviour } = this
    return { phone, jid, lid, name, registered, behaviour }
  }

  messages() {
    return {
      received: [...this.received.values()],
      sent: [...this.sent.values()],
      retries: [...this.retries.values()],
      held: this.held.map(({ id, from, at }) => ({ id, from, at }))
    }
  }
}

/** The text of a text message, whichever form it came in (Baileys 7 sends extendedTextMessage). */
export const textOf = message => message.conversation || message.extendedTextMessage?.text || null

/** The first content field set, e.g. 'extendedTextMessage', 'reactionMessage', 'protocolMessage'. */
export const kindOf = message => Object.keys(message).find(key => key !== 'messageContextInfo') ?? null
