// What the emulated WhatsApp server remembers: accounts (phones) with their companion devices,
// live sockets, QR refs issued, pending refusals, the live-socket high-water mark per login, the
// behaviours switched on, adv secrets retired, and the notifications sent to companions; what
// concerns messages (contacts, pre-keys, queues) is in `messaging`.
import { randomBytes, randomInt } from 'node:crypto'
import { Curve } from 'baileys'
import { applyBehaviours } from './behaviours.mjs'
import { Messaging } from './messaging.mjs'

const PHONE_PREFIX = '7999000'
// Baileys shows the first QR for 60 s and each later one for 20 s unless the client sets qrTimeout.
const DEFAULT_FIRST_QR_MS = 60_000
const DEFAULT_NEXT_QR_MS = 20_000
// Scans this close to a rotation boundary are judged leniently (clock and delivery skew).
const ROTATION_GRACE_MS = 300
// Notifications sent to companions that /state lists (the newest ones).
const NOTIFICATIONS_KEPT = 1000

export class Registry {
  constructor({ refsPerSocket, qrTimeoutMs, behaviours, presetContacts = 0 }) {
    this.refsPerSocket = refsPerSocket
    this.presetContacts = presetContacts
    this.firstQrMs = qrTimeoutMs || DEFAULT_FIRST_QR_MS
    this.nextQrMs = qrTimeoutMs || DEFAULT_NEXT_QR_MS
    this.behaviours = behaviours
    this.reset()
  }

  /** Changes behaviours at run time (a partial object, as in GET /behaviours); live sockets follow. */
  setBehaviours(patch) {
    this.behaviours = applyBehaviours(this.behaviours, patch)
    for (const conn of this.connections.values()) conn.onBehavioursChanged()
    return this.behaviours
  }

  reset() {
    for (const conn of this.connections?.values() ?? []) conn.terminate()
    this.accounts = new Map() // phone -> { phone, lidUser, identity, nextDeviceId, devices: Map<jid, device> }
    this.lids = new Map() // lidUser -> account
    this.messaging = new Messaging(this, { presetContacts: this.presetContacts })
    this.connections = new Map() // socketId -> Connection
    this.refs = new Map() // ref -> Connection
    this.maxLive = new Map() // phone -> highest number of simultaneously logged-in sockets
    this.refusal = { code: 0, count: 0 }
    this.retiredAdvSecrets = new Set() // base64 adv secrets a companion_reg_refresh retired
    this.notifications = [] // { socketId, type, id, acks }, oldest first
    this.phoneSeq = 0
    this.socketSeq = 0
  }

  nextSocketId() {
    return `s${++this.socketSeq}`
  }

  freshPhone() {
    let phone
    do phone = PHONE_PREFIX + String(++this.phoneSeq).padStart(4, '0')
    while (this.accounts.has(phone))
    return phone
  }

  /** The primary phone of a number, created on first use with its own identity (account) key. */
  account(phone) {
    let account = this.accounts.get(phone)
    if (!account) {
      account = {
        phone,
        lidUser: String(randomInt(10 ** 13, 10 ** 14)),
        identity: Curve.generateKeyPair(),
        nextDeviceId: 1,
        devices: new Map()
      }
      this.accounts.set(phone, account)
      this.lids.set(account.lidUser, account)
    }
    return account
  }

  addDevice(account, { noiseKey, identityKey }) {
    const deviceId = account.nextDeviceId++
    const device = {
      jid: `${account.phone}:${deviceId}@s.whatsapp.net`,
      lid: `${account.lidUser}:${deviceId}@lid`,
      phone: account.phone,
      deviceId,
      noiseKey: Buffer.from(noiseKey),
      identityKey: Buffer.from(identityKey),
      loggedOut: false,
      unackedStatuses: new Map(), // status id -> the <status> node, redelivered at every login
      statusesSent: 0,
      statusesAcked: 0,
      statusAckDrops: 0 // streams ended because a status stayed unacked
    }
    account.devices.set(device.jid, device)
    return device
  }

  findDevice(phone, deviceId) {
    return this.accounts.get(phone)?.devices.get(`${phone}:${deviceId}@s.whatsapp.net`)
  }

  devicesOf(phone) {
    return [...(this.accounts.get(phone)?.devices.values() ?? [])]
  }

  addConnection(conn) {
    this.connections.set(conn.id, conn)
  }

  removeConnection(conn) {
    this.connections.delete(conn.id)
    for (const ref of conn.refs) this.refs.delete(ref)
  }

  /** Sockets currently logged in as some device of `phone`. */
  liveSockets(phone) {
    return [...this.connections.values()].filter(c => c.device?.phone === phone && c.isLive())
  }

  noteLogin(phone) {
    const live = this.liveSockets(phone).length
    this.maxLive.set(phone, Math.max(live, this.maxLive.get(phone) ?? 0))
  }

  /** Returns the failure code to refuse the next connection attempt with, or 0. */
  takeRefusal() {
    if (this.refusal.count <= 0) return 0
    this.refusal.count--
    return this.refusal.code
  }

  /** Remembers a notification sent to a companion, so /state can tell whether it was acked. */
  recordNotification(conn, type, id) {
    this.notifications.push({ socketId: conn.id, type, id, acks: 0 })
    if (this.notifications.length > NOTIFICATIONS_KEPT) this.notifications.shift()
  }

  /** A companion's `<ack class="notification">`. */
  noteNotificationAck(id) {
    const sent = this.notifications.find(n => n.id === id)
    if (sent) sent.acks += 1
  }

  issueRefs(conn) {
    const refs = Array.from({ length: this.refsPerSocket }, () => `2@${randomBytes(48).toString('base64')}`)
    for (const ref of refs) this.refs.set(ref, conn)
    conn.refs = refs
    conn.refsShownAt = Date.now()
    return refs
  }

  /** Index of the ref the client is showing now, by Baileys' rotation schedule. */
  shownRefIndex(conn, now = Date.now()) {
    const elapsed = now - conn.refsShownAt
    return elapsed < this.firstQrMs ? 0 : 1 + Math.floor((elapsed - this.firstQrMs) / this.nextQrMs)
  }

  /** Only the QR on screen is valid (with a little leeway right at a rotation). */
  isRefCurrent(conn, ref, now = Date.now()) {
    const index = conn.refs.indexOf(ref)
    if (index < 0) return false
    const start = i => (i === 0 ? 0 : this.firstQrMs + (i - 1) * this.nextQrMs)
    const elapsed = now - conn.refsShownAt
    return elapsed >= start(index) - ROTATION_GRACE_MS && elapsed < start(index + 1) + ROTATION_GRACE_MS
  }

  pendingConnections() {
    return [...this.connections.values()].filter(c => c.isPending())
  }

  state() {
    const live = new Map() // device -> live sockets
    for (const conn of this.connections.values()) {
      if (conn.isLive()) live.set(conn.device, (live.get(conn.device) ?? 0) + 1)
    }
    const devices = []
    for (const account of this.accounts.values()) {
      for (const device of account.devices.values()) {
        const { jid, lid, phone, loggedOut, statusesSent, statusesAcked, statusAckDrops } = device
        devices.push({
          jid,
          lid,
          phone,
          loggedIn: !loggedOut,
          liveSockets: live.get(device) ?? 0,
          statuses: { sent: statusesSent, acked: statusesAcked, unacked: device.unackedStatuses.size, streamsEnded: statusAckDrops }
        })
      }
    }
    const pending = this.pendingConnections().map(c => c.describePending())
    return {
      devices,
      pending,
      maxLiveSocketsPerLogin: Object.fromEntries(this.maxLive),
      notifications: this.notifications.map(n => ({ ...n }))
    }
  }
}
