// Answers to what a client sends once the handshake is done: messages, receipts, chat states and
// their queries go to messaging.mjs; every other iq gets a `result` (shaped the way Baileys reads it
// where it reads anything), the rest is swallowed.
import { S_WHATSAPP_NET } from 'baileys'
import { onCompanionFinish, onCompanionHello } from './phone.mjs'
import { log } from './log.mjs'

const PRIVACY_DEFAULTS = { last: 'all', online: 'all', profile: 'all', status: 'all', readreceipts: 'all', groupadd: 'all' }

const firstChild = node => (Array.isArray(node.content) ? node.content[0] : undefined)

export const answerStanza = (conn, node) => {
  if (conn.device && conn.registry.messaging.handle(conn, node)) return
  if (node.tag === 'iq' && (node.attrs.type === 'get' || node.attrs.type === 'set')) return answerIq(conn, node)
  if (node.tag === 'ack') return takeAck(conn, node)
  if (node.tag === 'ib' && firstChild(node)?.tag === 'unified_session') sendOfflineDone(conn)
  // receipt, presence, ib (unified_session, offline_batch), iq results: nothing to answer.
  log.debug(`${conn.id}: got <${node.tag}> ${firstChild(node)?.tag ?? ''}`)
}

/** Acks of what the server sent: notifications are counted, statuses settle their deadline. */
const takeAck = (conn, node) => {
  if (node.attrs.class === 'notification') conn.registry.noteNotificationAck(node.attrs.id)
  else if (node.attrs.class === 'status') conn.statusFeed?.onAck(node)
  log.debug(`${conn.id}: got <ack class=${node.attrs.class}> ${node.attrs.id}`)
}

/**
 * What was queued while the device was away (messages, and statuses it left unacked), then
 * `<ib><offline count="N"/></ib>`. Sent once, on the first thing Baileys sends after it reported
 * `open` (its unified_session telemetry or the props query), so that, as with the real service,
 * pending notifications are reported after the open; live statuses start from there.
 */
const sendOfflineDone = conn => {
  if (conn.offlineSent || !conn.isLive()) return
  conn.offlineSent = true
  const queued = conn.registry.messaging.takeOfflineBatch(conn) + conn.statusFeed.start()
  conn.send({ tag: 'ib', attrs: { from: S_WHATSAPP_NET }, content: [{ tag: 'offline', attrs: { count: String(queued) } }] })
}

const answerIq = (conn, iq) => {
  const child = firstChild(iq)
  const xmlns = iq.attrs.xmlns
  switch (`${xmlns} ${child?.tag ?? ''}`) {
    case 'encrypt digest':
      return conn.result(iq, [{ tag: 'digest', attrs: {} }])
    case 'abt props':
      conn.result(iq, [{ tag: 'props', attrs: { protocol: '1', hash: 'emulator' } }])
      return sendOfflineDone(conn)
    case 'blocklist ':
      return conn.result(iq, [{ tag: 'list', attrs: {} }])
    case 'privacy privacy':
      return conn.result(iq, [
        {
          tag: 'privacy',
          attrs: {},
          content: Object.entries(PRIVACY_DEFAULTS).map(([name, value]) => ({ tag: 'category', attrs: { name, value } }))
        }
      ])
    case 'md link_code_companion_reg':
      if (child.attrs.stage === 'companion_hello') return onCompanionHello(conn, iq, child)
      if (child.attrs.stage === 'companion_finish') return onCompanionFinish(conn, iq, child)
      return conn.result(iq)
    case 'md remove-companion-device':
      // the client logs itself out: the device is gone, its credentials no longer log in
      if (conn.device) conn.device.loggedOut = true
      log.info(`${conn.id}: ${child.attrs.jid} removed by the client`)
      return conn.result(iq)
    default:
      // w:p ping, w:stats, passive etc.: an empty result keeps the client going
      if (xmlns !== 'w:p') log.debug(`${conn.id}: empty result for iq ${xmlns} ${child?.tag ?? ''}`)
      return conn.result(iq)
  }
}
