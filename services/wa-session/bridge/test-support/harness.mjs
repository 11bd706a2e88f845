// Test harness: the WhatsApp emulator and the bridge as child processes, with this file playing
// wa-session: it sends commands and answers creds.get / keys.get / state.set from memory.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { spawnEmulator } from '../../../../emulators/whatsapp/src/spawn.mjs'

const BRIDGE_MAIN = fileURLToPath(new URL('../src/main.mjs', import.meta.url))
const EMULATOR_DIR = fileURLToPath(new URL('../../../../emulators/whatsapp/', import.meta.url))
const VERBOSE = !!process.env.WA_BRIDGE_TEST_VERBOSE

/** Polls `probe` until it returns a truthy value; bounded by `timeoutMs`. */
export const waitFor = async (probe, timeoutMs, what) => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

export const startEmulator = async (args = []) => {
  if (!existsSync(new URL('node_modules/baileys', `file://${EMULATOR_DIR}`))) {
    throw new Error(`the emulator's dependencies are missing: run npm ci in ${EMULATOR_DIR}`)
  }
  return spawnEmulator(args, { verbose: VERBOSE })
}

/**
 * wa-session's auth store, in memory. Values are kept exactly as they arrived (plain JSON, never
 * revived), which is how wa-session treats them. `refuse(session)` makes every later request for
 * that session fail with `fenced`, as after a lease was taken over; `refuse(session, 'writes')`
 * only the state.set requests (a fenced owner may still read); a third argument changes the error.
 */
export const memoryStore = () => {
  const sessions = new Map()
  const refused = new Map() // session -> { what: 'all' | 'writes', error }
  const writes = []
  const of = session => {
    if (!sessions.has(session)) sessions.set(session, { creds: null, keys: {} })
    return sessions.get(session)
  }
  const answer = msg => {
    const refusal = refused.get(msg.session)
    if (refusal && (refusal.what === 'all' || msg.type === 'state.set')) return { ok: false, error: refusal.error }
    const data = of(msg.session)
    switch (msg.type) {
      case 'creds.get':
        return { ok: true, value: data.creds }
      case 'keys.get': {
        const found = {}
        for (const id of msg.ids) if (data.keys[msg.category]?.[id] !== undefined) found[id] = data.keys[msg.category][id]
        return { ok: true, value: found }
      }
      case 'state.set':
        writes.push(msg)
        if (msg.creds !== undefined) data.creds = msg.creds
        for (const [category, values] of Object.entries(msg.keys ?? {})) {
          data.keys[category] ??= {}
          for (const [id, value] of Object.entries(values)) {
            if (value === null) delete data.keys[category][id]
            else data.keys[category][id] = value
          }
        }
        return { ok: true, value: null }
      default:
        return { ok: false, error: `unknown request ${msg.type}` }
    }
  }
  return {
    answer,
    writes,
    creds: session => sessions.get(session)?.creds ?? null,
    keyCount: session => Object.values(sessions.get(session)?.keys ?? {}).reduce((n, k) => n + Object.keys(k).length, 0),
    refuse: (session, what = 'all', error = 'fenced') => refused.set(session, { what, error })
  }
}

/**
 * The bridge as a child process. Every line it prints is recorded; requests are answered from
 * `store`; `next(match)` waits (bounded) for the next recorded message after the last match.
 */
export const startBridge = async ({ emulator, store, qrTimeoutMs, env = {} }) => {
  const proc = spawn(process.execPath, [BRIDGE_MAIN], {
    stdio: ['pipe', 'pipe', VERBOSE ? 'inherit' : 'ignore'],
    env: {
      ...process.env,
      WA_BRIDGE_WS_URL: emulator.info.wsUrl,
      WA_BRIDGE_TRUST_ROOT_KEY: emulator.info.rootPublicKey,
      ...(qrTimeoutMs ? { WA_BRIDGE_QR_TIMEOUT_MS: String(qrTimeoutMs) } : {}),
      WA_BRIDGE_LOG_LEVEL: VERBOSE ? 'info' : 'warn',
      ...env
    }
  })
  const messages = []
  const stdoutLines = []
  const waiters = new Set()
  const replies = new Map()
  let cursor = 0
  let nextId = 1

  const write = msg => proc.stdin.write((typeof msg === 'string' ? msg : JSON.stringify(msg)) + '\n')

  createInterface({ input: proc.stdout }).on('line', line => {
    stdoutLines.push(line)
    const msg = JSON.parse(line) // throws (and fails the test) if stdout carries anything else
    messages.push(msg)
    if (msg.type === 'reply') replies.get(msg.id)?.(msg)
    if (['creds.get', 'keys.get', 'state.set'].includes(msg.type)) {
      write({ type: 'result', rid: msg.rid, ...store.answer(msg) })
    }
    for (const waiter of waiters) waiter()
  })

  const next = (match, timeoutMs = 10_000, what = 'a message') =>
    new Promise((resolve, reject) => {
      const check = () => {
        for (let i = cursor; i < messages.length; i++) {
          if (match(messages[i])) {
            cursor = i + 1
            waiters.delete(check)
            clearTimeout(timer)
            resolve(messages[i])
            return
          }
        }
      }
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))
      }, timeoutMs)
      waiters.add(check)
      check()
    })

  /**
   * Waits for any message, earlier or later (from position `from` of `messages` on), that matches;
   * leaves the cursor of `next` alone.
   */
  const find = (match, timeoutMs = 10_000, what = 'a message', from = 0) =>
    new Promise((resolve, reject) => {
      const check = () => {
        let found
        for (let i = from; i < messages.length && !found; i++) if (match(messages[i])) found = messages[i]
        if (!found) return
        waiters.delete(check)
        clearTimeout(timer)
        resolve(found)
      }
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))
      }, timeoutMs)
      waiters.add(check)
      check()
    })

  /** Waits for the next event of `type` for `session`. */
  const event = (type, session, timeoutMs = 10_000) =>
    next(m => m.type === type && m.session === session, timeoutMs, `${type} of ${session}`)

  /** Sends a command and resolves with its reply. */
  const command = (cmd, fields = {}, timeoutMs = 15_000) => {
    const id = nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${cmd} #${id} within ${timeoutMs} ms`)), timeoutMs)
      replies.set(id, reply => {
        clearTimeout(timer)
        replies.delete(id)
        resolve(reply)
      })
      write({ id, cmd, ...fields })
    })
  }

  const exited = once(proc, 'exit').then(([code]) => code)

  /** Closes stdin, as wa-session does when it stops the bridge; resolves with the exit code. */
  const stop = async () => {
    if (proc.exitCode === null) proc.stdin.end()
    return exited
  }

  await next(m => m.type === 'bridge.ready', 10_000, 'bridge.ready')
  return { proc, messages, stdoutLines, next, find, event, command, write, stop, exited }
}

/**
 * The phone scans `shown` (a `qr` event) the way today's server lets it link: the first scan is
 * refused with a companion_reg_refresh (409), the bridge shows the QR again with a new adv secret
 * (`refresh: true`), and that one links. Resolves with the emulator's answer `{phone, jid, lid}`.
 */
export const linkByQr = async (bridge, emulator, shown) => {
  const from = bridge.messages.length
  let scan = await emulator.call('POST', '/scan', { qr: shown.qr })
  if (scan.status === 409) {
    const again = await bridge.find(
      m => m.type === 'qr' && m.session === shown.session && m.refresh === true,
      10_000,
      `the re-rendered QR of ${shown.session}`,
      from
    )
    scan = await emulator.call('POST', '/scan', { qr: again.qr })
  }
  if (scan.status !== 200) throw new Error(`scan of ${shown.session} failed: ${JSON.stringify(scan.body)}`)
  return scan.body
}

/**
 * A first login by QR through the bridge: open, scan the QR (again after a refresh), paired,
 * closed 515, open again. Resolves with the linked phone once the session is connected.
 */
export const loginByQr = async (bridge, emulator, session) => {
  assertOk(await bridge.command('open', { session, pairingPhone: null }))
  const { phone } = await linkByQr(bridge, emulator, await bridge.event('qr', session))
  await bridge.event('paired', session)
  const closed = await bridge.event('closed', session)
  if (closed.code !== 515) throw new Error(`expected 515 after pairing, got ${JSON.stringify(closed)}`)
  assertOk(await bridge.command('open', { session, pairingPhone: null }))
  await bridge.event('open', session, 15_000)
  return phone
}

export const assertOk = reply => {
  if (reply.ok !== true) throw new Error(`command failed: ${JSON.stringify(reply)}`)
  return reply
}
