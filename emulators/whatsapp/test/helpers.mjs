// Test harness: the emulator as a child process, and the real Baileys client pointed at it.
import makeWASocket, { initAuthCreds, WA_CERT_DETAILS } from 'baileys'
import { spawnEmulator } from '../src/spawn.mjs'

const VERBOSE = !!process.env.WA_EMULATOR_TEST_VERBOSE

/** Flags for the server as it was in 2025, which a plain rc14 socket can log in to. */
export const SERVER_2025 = ['--companion-reg-refresh', 'off', '--status-stanzas', 'off']

export const startEmulator = async (extraArgs = []) => {
  const emulator = await spawnEmulator(extraArgs, { verbose: VERBOSE })
  // What the bridge does in test mode: trust the emulator's root instead of WhatsApp's.
  WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(emulator.info.rootPublicKey, 'base64')
  return emulator
}

/** Polls `probe` until it returns a truthy value; bounded by `timeoutMs`. */
export const waitFor = async (probe, timeoutMs, what) => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** Auth state kept in memory: persistence is wa-session's business, not the emulator's. */
export const memoryAuth = () => {
  const store = {}
  return {
    creds: initAuthCreds(),
    keys: {
      get: async (type, ids) => Object.fromEntries(ids.map(id => [id, store[type]?.[id]]).filter(([, v]) => v !== undefined)),
      set: async data => {
        for (const [type, values] of Object.entries(data)) {
          store[type] ??= {}
          for (const [id, value] of Object.entries(values)) {
            if (value === null || value === undefined) delete store[type][id]
            else store[type][id] = value
          }
        }
      }
    }
  }
}

const quietLogger = {
  level: VERBOSE ? 'warn' : 'silent',
  child() {
    return quietLogger
  },
  trace() {},
  debug() {},
  info() {},
  warn(...args) {
    if (VERBOSE) console.error('baileys warn', ...args)
  },
  error(...args) {
    if (VERBOSE) console.error('baileys error', ...args)
  },
  fatal(...args) {
    if (VERBOSE) console.error('baileys fatal', ...args)
  }
}

/**
 * A real Baileys socket against the emulator, with its connection, creds and messages events
 * recorded so a test can wait for the next one matching a predicate (always with a timeout).
 */
export const connect = (emulator, auth, options = {}) => {
  const sock = makeWASocket({
    auth,
    waWebSocketUrl: emulator.info.wsUrl,
    logger: quietLogger,
    markOnlineOnConnect: false,
    connectTimeoutMs: 10_000,
    ...options
  })
  const events = []
  const waiters = new Set()
  let cursor = 0
  const record = (type, data) => {
    events.push({ type, data })
    for (const waiter of waiters) waiter.check()
  }
  for (const type of ['connection.update', 'creds.update', 'messages.upsert', 'messages.update']) {
    sock.ev.on(type, data => record(type, data))
  }

  /** Resolves with the first event after the previous match that satisfies `match`. */
  const next = (type, match, timeoutMs = 10_000, what = type) =>
    new Promise((resolve, reject) => {
      const waiter = {
        check() {
          for (let i = cursor; i < events.length; i++) {
            if (events[i].type === type && match(events[i].data)) {
              cursor = i + 1
              waiters.delete(waiter)
              clearTimeout(timer)
              resolve(events[i].data)
              return
            }
          }
        }
      }
      const timer = setTimeout(() => {
        waiters.delete(waiter)
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))
      }, timeoutMs)
      waiters.add(waiter)
      waiter.check()
    })

  const closed = (timeoutMs = 10_000) =>
    next('connection.update', u => u.connection === 'close', timeoutMs, 'connection close').then(u => ({
      statusCode: u.lastDisconnect?.error?.output?.statusCode,
      message: u.lastDisconnect?.error?.message
    }))

  return { sock, events, next, closed }
}

/** Pairs a fresh auth state by QR and returns it, logged in once and the pairing socket closed (515). */
export const pairByQr = async (emulator, options = {}) => {
  const auth = memoryAuth()
  const client = connect(emulator, auth, options)
  const { qr } = await client.next('connection.update', u => !!u.qr, 10_000, 'a QR')
  const scan = await emulator.call('POST', '/scan', { qr })
  if (scan.status !== 200) throw new Error(`scan failed: ${JSON.stringify(scan.body)}`)
  const close = await client.closed()
  if (close.statusCode !== 515) throw new Error(`expected 515 after pairing, got ${JSON.stringify(close)}`)
  return { auth, ...scan.body }
}

/** A new socket with saved creds, resolved once Baileys reports `connection: 'open'`. */
export const openSession = async (emulator, auth, options = {}) => {
  const client = connect(emulator, auth, options)
  await client.next('connection.update', u => u.connection === 'open', 15_000, 'connection open')
  return client
}
