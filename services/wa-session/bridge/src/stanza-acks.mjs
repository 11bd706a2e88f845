// Acks rc14 does not send. Before login its own ack of a notification throws (it reads
// creds.me.id, unset until pair-success), and it has no handler at all for top-level <status>
// stanzas, which the server then redelivers and, about 50 minutes on, ends the stream for.
import { buildAckStanza } from 'baileys'

const STATUS_BROADCAST = 'status@broadcast'

/**
 * Returns `ack(node)`: acks a notification while the companion is not logged in, each node at
 * most once (several listeners may see the same node). Once creds.me is set rc14 acks by itself.
 */
export const createAckBeforeLogin = (sock, logger) => {
  const acked = new WeakSet()
  return node => {
    if (sock.authState.creds.me || acked.has(node)) return
    acked.add(node)
    sock.sendNode(buildAckStanza(node)).catch(err => {
      logger.warn({ err, type: node.attrs.type }, 'could not ack a notification before login')
    })
  }
}

/** Acks every notification that arrives before login. */
export const ackNotificationsBeforeLogin = (sock, ackBeforeLogin) => {
  sock.ws.on('CB:notification', ackBeforeLogin)
}

/** `<ack class="status" id to="status@broadcast" participant type from="<own jid>"/>` for each top-level status. */
export const ackStatusStanzas = (sock, logger) => {
  sock.ws.on(`CB:status,from:${STATUS_BROADCAST}`, node => {
    const me = sock.authState.creds.me?.id
    if (!me) return
    const ack = buildAckStanza(node)
    ack.attrs.from = me
    sock.sendNode(ack).catch(err => logger.warn({ err }, 'could not ack a status'))
  })
}
