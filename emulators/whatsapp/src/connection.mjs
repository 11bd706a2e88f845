// One client WebSocket: Noise handshake, then binary nodes in both directions. Decides between
// registration (pair-device, QR refs) and login, and hands queries to answers.mjs.
import { decodeBinaryNode, encodeBinaryNode, S_WHATSAPP_NET } from 'baileys'
import { compareVersions, parseVersion } from './behaviours.mjs'
import { encodeFrame, FrameReader } from './frames.mjs'
import { makeNoiseResponder } from './noise.mjs'
import { answerStanza } from './answers.mjs'
import { log } from './log.mjs'
import { StatusFeed } from './status-feed.mjs'

// A client that was told to go away (stream error, failure) gets this long to close by itself.
const CLOSE_GRACE_MS = 5_000

export class Connection {
  constructor(ws, { registry, identity }) {
    this.ws = ws
    this.registry = registry
    this.id = registry.nextSocketId()
    this.reader = new FrameReader()
    this.noise = makeNoiseResponder(identity)
    this.stage = 'hello' // hello -> finish -> pairing (-> linking) | loggedIn; then closing | silent | closed
    this.transport = null
    this.clientStaticKey = null
    this.registration = null // devicePairingData of a new device
    this.device = null // the logged-in device
    this.refs = []
    this.refsShownAt = 0
    this.scannedQrs = []
    this.linkCode = null // state of a pairing-code request
    this.regRefreshSent = false // the first scan of this socket got companion_reg_refresh
    this.statusFeed = null // <status> stanzas while logged in
    this.waiters = new Set()
    this.idSeq = 0
    this.queue = Promise.resolve()
    this.closeTimer = null
    this.offlineSent = false

    ws.on('message', data => {
      if (this.stage === 'silent') return
      this.queue = this.queue.then(() => this.onData(data)).catch(err => this.onProtocolError(err))
    })
    ws.on('close', () => this.onClose())
    ws.on('error', err => log.debug(`${this.id}: socket error ${err.message}`))
  }

  nextId() {
    return `${this.id}.${++this.idSeq}`
  }

  isLive() {
    return this.stage === 'loggedIn' && this.ws.readyState === this.ws.OPEN
  }

  isPending() {
    return this.stage === 'pairing' && this.ws.readyState === this.ws.OPEN
  }

  describePending() {
    const out = {
      socketId: this.id,
      refs: this.refs,
      currentRef: this.refs[this.registry.shownRefIndex(this)] ?? null,
      qr: this.scannedQrs,
      pairingCodeRequested: !!this.linkCode
    }
    if (this.linkCode) out.phone = this.linkCode.phone
    return out
  }

  async onData(data) {
    for (const frame of this.reader.push(data)) await this.onFrame(frame)
  }

  async onFrame(frame) {
    if (this.stage === 'hello') {
      this.sendRaw(this.noise.serverHello(this.reader.introHeader, frame))
      this.stage = 'finish'
    } else if (this.stage === 'finish') {
      const { clientStaticKey, payload, transport } = this.noise.clientFinish(frame)
      this.transport = transport
      this.clientStaticKey = clientStaticKey
      this.noise = null
      this.onClientPayload(payload)
    } else {
      const node = await decodeBinaryNode(this.transport.decrypt(frame))
      this.onNode(node)
    }
  }

  onClientPayload(payload) {
    const refusal = this.registry.takeRefusal()
    if (refusal) {
      log.info(`${this.id}: refusing the connection with ${refusal} as ordered`)
      return this.fail(refusal)
    }
    const { minVersion } = this.registry.behaviours
    const { primary = 0, secondary = 0, tertiary = 0 } = payload.userAgent?.appVersion ?? {}
    if (minVersion && compareVersions([primary, secondary, tertiary], parseVersion(minVersion)) < 0) {
      log.info(`${this.id}: client version ${primary}.${secondary}.${tertiary} is older than ${minVersion}: 405`)
      return this.fail(405)
    }
    if (payload.devicePairingData) return this.startRegistration(payload.devicePairingData)
    this.login(String(payload.username), payload.device || 0)
  }

  startRegistration(pairingData) {
    this.registration = pairingData
    this.stage = 'pairing'
    const refs = this.registry.issueRefs(this)
    log.info(`${this.id}: new device, sending pair-device with ${refs.length} refs`)
    this.send({
      tag: 'iq',
      attrs: { from: S_WHATSAPP_NET, type: 'set', id: this.nextId(), xmlns: 'md' },
      content: [{ tag: 'pair-device', attrs: {}, content: refs.map(ref => ({ tag: 'ref', attrs: {}, content: Buffer.from(ref) })) }]
    })
  }

  login(phone, deviceId) {
    const device = this.registry.findDevice(phone, deviceId)
    // WhatsApp recognises a companion by the Noise key it registered with when it paired.
    if (!device || device.loggedOut || !device.noiseKey.equals(this.clientStaticKey)) {
      log.info(`${this.id}: login of ${phone}:${deviceId} refused (unknown or logged out device)`)
      return this.fail(401)
    }
    this.device = device
    this.stage = 'loggedIn'
    this.registry.noteLogin(phone)
    for (const other of this.registry.liveSockets(phone)) {
      if (other !== this && other.device === device) {
        log.info(`${other.id}: replaced by ${this.id} for ${device.jid}`)
        other.streamError({}, [{ tag: 'conflict', attrs: { type: 'replaced' } }])
      }
    }
    log.info(`${this.id}: ${device.jid} logged in`)
    const now = Math.floor(Date.now() / 1000)
    this.send({
      tag: 'success',
      attrs: { t: String(now), props: '1', abprops: '1', location: 'emu', creation: String(now), lid: device.lid }
    })
    this.statusFeed = new StatusFeed(this) // started with the offline queue, see answers.mjs
  }

  /** The control API changed a behaviour. */
  onBehavioursChanged() {
    if (this.isLive()) this.statusFeed?.reschedule()
  }

  onNode(node) {
    for (const waiter of this.waiters) {
      if (waiter.match(node)) {
        this.waiters.delete(waiter)
        waiter.resolve(node)
        return
      }
    }
    answerStanza(this, node)
  }

  /** Resolves with the next incoming node that `match`es (instead of the default answer). */
  expect(match, timeoutMs) {
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve, reject }
      const timer = setTimeout(() => {
        this.waiters.delete(waiter)
        reject(new Error('timed out waiting for the client'))
      }, timeoutMs)
      waiter.resolve = node => {
        clearTimeout(timer)
        resolve(node)
      }
      waiter.reject = err => {
        clearTimeout(timer)
        reject(err)
      }
      this.waiters.add(waiter)
    })
  }

  send(node) {
    if (this.ws.readyState !== this.ws.OPEN) return
    this.sendRaw(this.transport.encrypt(encodeBinaryNode(node)))
  }

  sendRaw(bytes) {
    this.ws.send(encodeFrame(bytes))
  }

  /** `<notification from="s.whatsapp.net" type id t>`, remembered so /state shows whether it was acked. */
  sendNotification(type, content) {
    const id = this.nextId()
    this.registry.recordNotification(this, type, id)
    this.send({
      tag: 'notification',
      attrs: { from: S_WHATSAPP_NET, type, id, t: String(Math.floor(Date.now() / 1000)) },
      content
    })
    return id
  }

  result(iq, content) {
    this.send({ tag: 'iq', attrs: { from: S_WHATSAPP_NET, type: 'result', id: iq.attrs.id }, content })
  }

  /** `<stream:error>`: Baileys maps attrs.code, or a `conflict` child to 440, to its close reason. */
  streamError(attrs, content) {
    this.send({ tag: 'stream:error', attrs, content })
    this.closeSoon()
  }

  /** `<failure reason="…"/>` right after the handshake: Baileys closes with that status code. */
  fail(code) {
    this.send({ tag: 'failure', attrs: { reason: String(code), location: 'emu' } })
    this.closeSoon()
  }

  /** The client closes the socket itself once it has read the last node; force it if it does not. */
  closeSoon() {
    this.stage = 'closing'
    this.statusFeed?.stop()
    this.closeTimer ??= setTimeout(() => this.terminate(), CLOSE_GRACE_MS).unref()
  }

  /** Stops answering without closing, like a connection that died somewhere on the way. */
  goSilent() {
    this.stage = 'silent'
    this.statusFeed?.stop()
  }

  terminate() {
    this.ws.terminate()
  }

  onProtocolError(err) {
    log.warn(`${this.id}: protocol error, closing: ${err.message}`)
    this.terminate()
  }

  onClose() {
    clearTimeout(this.closeTimer)
    this.statusFeed?.stop()
    this.stage = 'closed'
    for (const waiter of this.waiters) waiter.reject(new Error('socket closed'))
    this.waiters.clear()
    this.registry.removeConnection(this)
    log.debug(`${this.id}: closed`)
  }
}
