// Helpers for the messaging suites: a logged-in salon with a message store behind getMessage, a
// contact, bounded polling of the control API and of Baileys' events, and message statuses.
import { proto } from 'baileys'
import { openSession, pairByQr } from './helpers.mjs'

export const { Status } = proto.WebMessageInfo

/** Polls `probe` (sync or async) until it returns something truthy; fails after `timeoutMs`. */
export const until = async (probe, what, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 15))
  }
}

/** The next `type` event of a socket, within `timeoutMs`. */
export const nextEvent = (sock, type, timeoutMs = 5_000) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${type}`)), timeoutMs)
    const listener = data => {
      clearTimeout(timer)
      sock.ev.off(type, listener)
      resolve(data)
    }
    sock.ev.on(type, listener)
  })

/**
 * Socket options a salon login uses here: no wait for a history sync the emulator never sends
 * (Baileys would hold all events for 20 s after a first login), and the messages it sent kept for
 * getMessage, which Baileys calls to resend a message a recipient could not decrypt.
 */
export const salonOptions = (store, overrides = {}) => ({
  shouldSyncHistoryMessage: () => false,
  getMessage: async key => store.get(key.id),
  ...overrides
})

/** A paired salon (its auth state kept for restarts) and a contact to write to. */
export const salonAndContact = async (emulator, contactBody = {}) => {
  const login = await pairByQr(emulator)
  const contact = (await emulator.call('POST', '/contacts', contactBody)).body
  return { login, contact, store: new Map() }
}

/** A session of the salon; `acks` collects the server's message acks, for which Baileys emits no event. */
export const openSalon = async (emulator, salon, overrides) => {
  const client = await openSession(emulator, salon.login.auth, salonOptions(salon.store, overrides))
  client.acks = []
  client.sock.ws.on('CB:ack,class:message', node => client.acks.push(node.attrs))
  return client
}

/** Sends a text and keeps it in the salon's store, as a bridge with a message table would. */
export const sendText = async (client, store, jid, text) => {
  const sent = await client.sock.sendMessage(jid, { text })
  store.set(sent.key.id, sent.message)
  return sent
}

/**
 * What Baileys reported of a message it sent, from its upsert and its updates: a receipt or a nack
 * that arrives before Baileys emits its own 'append' upsert is merged into it (no messages.update).
 * -> {status (-1 before the upsert; ERROR wins over the rest), stubParameters}
 */
export const reportOf = (client, id) => {
  const report = { status: -1, stubParameters: undefined }
  for (const { type, data } of client.events) {
    const changes =
      type === 'messages.upsert' ? data.messages.filter(m => m.key.id === id)
      : type === 'messages.update' ? data.filter(u => u.key.id === id).map(u => u.update)
      : []
    for (const { status, messageStubParameters } of changes) {
      if (typeof status === 'number' && report.status !== Status.ERROR) {
        report.status = status === Status.ERROR ? status : Math.max(report.status, status)
      }
      if (messageStubParameters?.length) report.stubParameters = messageStubParameters
    }
  }
  return report
}

export const statusOf = (client, id) => reportOf(client, id).status

/** The first message Baileys upserted with this text, as {type, message}. */
export const upserted = (client, predicate) => {
  for (const { type, data } of client.events) {
    if (type !== 'messages.upsert') continue
    const message = data.messages.find(predicate)
    if (message) return { type: data.type, message }
  }
}

export const textIn = message => message.message?.conversation || message.message?.extendedTextMessage?.text

export const messagesOf = async (emulator, phone) => (await emulator.call('GET', `/messages?phone=${phone}`)).body
