// Stanzas for a logged-in device (messages, receipts, notifications): sent on its live socket once
// that socket has had its offline batch, otherwise kept until the next login hands the queue over.
export class Delivery {
  constructor() {
    this.online = new Map() // device -> the socket that took its offline batch
    this.queues = new Map() // device -> nodes waiting for the next login
  }

  /** Sends `node` to `device` now (true) or queues it for its next login (false). */
  send(device, node) {
    const conn = this.online.get(device)
    if (conn?.isLive()) {
      conn.send(node)
      return true
    }
    this.online.delete(device)
    const queue = this.queues.get(device)
    if (queue) queue.push(node)
    else this.queues.set(device, [node])
    return false
  }

  /**
   * The device's socket is ready for its offline batch: everything queued goes out marked `offline`
   * (Baileys then upserts messages as 'append', not 'notify'), later stanzas go straight to it.
   * Returns the count for `<ib><offline count/>`.
   */
  takeOfflineBatch(conn) {
    const queue = this.queues.get(conn.device) ?? []
    this.queues.delete(conn.device)
    for (const node of queue) conn.send({ ...node, attrs: { ...node.attrs, offline: '1' } })
    this.online.set(conn.device, conn)
    return queue.length
  }
}
