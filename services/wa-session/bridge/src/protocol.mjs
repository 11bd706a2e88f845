// JSON-lines framing on stdio: commands in, replies/requests/events out, results of our requests in.
// PROTOCOL.md is the reference for every message shape.
import { createInterface } from 'node:readline'
import { BufferJSON } from 'baileys'

/** An `ok:false` answer from the other side; `message` is its `error` string (e.g. "fenced"). */
export class RemoteError extends Error {}

export const createProtocol = ({ input, output, logger, requestTimeoutMs }) => {
  const pending = new Map() // rid -> { resolve, reject, timer }
  let nextRid = 1
  let commandHandler = async () => {
    throw new Error('not ready')
  }

  // Buffers inside creds and keys travel as {"type":"Buffer","data":"<base64>"}.
  const send = message => {
    if (!output.writable) return
    output.write(JSON.stringify(message, BufferJSON.replacer) + '\n')
  }

  const request = message =>
    new Promise((resolve, reject) => {
      const rid = nextRid++
      const timer = setTimeout(() => {
        pending.delete(rid)
        reject(new RemoteError(`no result for ${message.type} within ${requestTimeoutMs} ms`))
      }, requestTimeoutMs)
      pending.set(rid, { resolve, reject, timer })
      send({ ...message, rid })
    })

  const reply = (id, outcome) => send({ type: 'reply', id, ...outcome })

  const onResult = msg => {
    const entry = pending.get(msg.rid)
    if (!entry) {
      logger.warn({ rid: msg.rid }, 'result for an unknown or timed-out request')
      return
    }
    pending.delete(msg.rid)
    clearTimeout(entry.timer)
    if (msg.ok === true) entry.resolve(msg.value ?? null)
    else entry.reject(new RemoteError(typeof msg.error === 'string' ? msg.error : 'error'))
  }

  const onCommand = async msg => {
    try {
      const value = await commandHandler(msg)
      reply(msg.id, value === undefined ? { ok: true } : { ok: true, value })
    } catch (err) {
      reply(msg.id, { ok: false, error: err.message || String(err) })
    }
  }

  const onLine = line => {
    if (!line.trim()) return
    let msg
    try {
      msg = JSON.parse(line, BufferJSON.reviver)
    } catch {
      // A broken line may still show which command it was, so that command gets its error reply.
      const id = /"id"\s*:\s*(\d+)/.exec(line)?.[1]
      if (id !== undefined) reply(Number(id), { ok: false, error: 'malformed JSON' })
      else logger.warn({ length: line.length }, 'skipped a line that is not JSON')
      return
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
      logger.warn('skipped a line that is not a JSON object')
      return
    }
    if (msg.type === 'result' && Number.isInteger(msg.rid)) return onResult(msg)
    if (!Number.isInteger(msg.id)) {
      logger.warn({ type: msg.type, cmd: msg.cmd }, 'skipped a message without an integer id')
      return
    }
    if (typeof msg.cmd !== 'string') {
      reply(msg.id, { ok: false, error: 'missing "cmd"' })
      return
    }
    void onCommand(msg)
  }

  const lines = createInterface({ input, crlfDelay: Infinity })
  lines.on('line', onLine)
  const ended = new Promise(resolve => lines.once('close', resolve))
  ended.then(() => {
    for (const [rid, entry] of pending) {
      clearTimeout(entry.timer)
      entry.reject(new RemoteError('stdin closed'))
      pending.delete(rid)
    }
  })

  return {
    /** Installs the async handler of commands; its return value becomes the reply's `value`. */
    handleCommands: handler => {
      commandHandler = handler
    },
    send,
    request,
    /** Resolves when stdin has ended. */
    ended
  }
}
