// Top-level <status> stanzas to a logged-in socket, as today's server delivers E2EE status updates:
// `<status from="status@broadcast" type id participant t><enc type="skmsg"/></status>`. Each one
// must be acked (`<ack class="status" id to="status@broadcast" …/>`) within the ack timeout, or the
// server ends the stream with `<stream:error><ack class="status" id/></stream:error>`. Unacked
// ones stay with the device and are delivered again at its next login, with what was queued while
// it was away (before `<ib><offline/>`); new ones follow, live.
import { randomBytes, randomInt } from 'node:crypto'
import { log } from './log.mjs'

export const STATUS_BROADCAST = 'status@broadcast'

export class StatusFeed {
  constructor(conn) {
    this.conn = conn
    this.device = conn.device
    this.nextTimer = null
    this.deadlines = new Map() // status id -> timer
    this.started = false
  }

  get behaviours() {
    return this.conn.registry.behaviours
  }

  /**
   * When the login's offline queue is handed over: what is still unacked comes again, then a new
   * status every interval. Returns how many were delivered again.
   */
  start() {
    this.started = true
    if (!this.behaviours.statusStanzas) return 0
    for (const node of this.device.unackedStatuses.values()) this.deliver(node)
    this.scheduleNext()
    return this.device.unackedStatuses.size
  }

  /** The behaviours changed: follow the switch and the new interval; off also lifts the deadlines. */
  reschedule() {
    if (!this.started) return
    clearTimeout(this.nextTimer)
    this.nextTimer = null
    if (this.behaviours.statusStanzas) this.scheduleNext()
    else this.clearDeadlines()
  }

  scheduleNext() {
    this.nextTimer = setTimeout(() => {
      this.post()
      this.scheduleNext()
    }, this.behaviours.statusIntervalMs)
  }

  /** A contact posted a status update. */
  post() {
    const node = {
      tag: 'status',
      attrs: {
        from: STATUS_BROADCAST,
        type: 'text',
        id: randomBytes(10).toString('hex').toUpperCase(),
        participant: `${randomInt(10 ** 13, 10 ** 14)}@lid`,
        t: String(Math.floor(Date.now() / 1000))
      },
      content: [{ tag: 'enc', attrs: { v: '2', type: 'skmsg' }, content: randomBytes(64) }]
    }
    this.device.unackedStatuses.set(node.attrs.id, node)
    this.device.statusesSent += 1
    this.deliver(node)
  }

  deliver(node) {
    const { id } = node.attrs
    this.conn.send(node)
    clearTimeout(this.deadlines.get(id))
    this.deadlines.set(id, setTimeout(() => this.expire(id), this.behaviours.statusAckTimeoutMs))
  }

  expire(id) {
    this.deadlines.delete(id)
    if (!this.device.unackedStatuses.has(id) || !this.conn.isLive()) return
    log.info(`${this.conn.id}: status ${id} not acked within ${this.behaviours.statusAckTimeoutMs} ms, ending the stream`)
    this.device.statusAckDrops += 1
    this.stop()
    this.conn.streamError({}, [{ tag: 'ack', attrs: { class: 'status', id } }])
  }

  /** `<ack class="status">` from the client; only one addressed to status@broadcast counts. */
  onAck(node) {
    const { id, to } = node.attrs
    if (to !== STATUS_BROADCAST || !this.device.unackedStatuses.delete(id)) return
    this.device.statusesAcked += 1
    clearTimeout(this.deadlines.get(id))
    this.deadlines.delete(id)
  }

  clearDeadlines() {
    for (const timer of this.deadlines.values()) clearTimeout(timer)
    this.deadlines.clear()
  }

  stop() {
    clearTimeout(this.nextTimer)
    this.nextTimer = null
    this.clearDeadlines()
  }
}
