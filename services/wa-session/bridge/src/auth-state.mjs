// Baileys auth state (creds + signal keys) kept by wa-session and reached through the protocol.
// The bridge keeps nothing on disk: reads are creds.get / keys.get, every change is one state.set.
import NodeCache from '@cacheable/node-cache'
import { DEFAULT_CACHE_TTLS, initAuthCreds, makeCacheableSignalKeyStore, proto } from 'baileys'

/** Loads a session's creds through the protocol; null (never stored) starts a new login. */
export const loadCreds = async (protocol, session) =>
  (await protocol.request({ type: 'creds.get', session })) ?? initAuthCreds()

/**
 * The `auth` object for makeWASocket.
 *
 * Writes go out one at a time, in the order Baileys made them, so wa-session never sees a creds
 * save overtake a later one or a key change. A creds change that is still waiting at the end of
 * the queue absorbs the next one: it is serialized when sent, so it carries the newest creds.
 *
 * The first failed read or write (`fenced`, a database error, a timeout) is final: `onFailure` is
 * called once so the host ends the socket, and every later read or write fails at once. That is
 * also what makes Baileys' key cache safe here: a cached value whose write failed can never be
 * used, because the socket that holds the cache is ended.
 */
export const createAuthState = ({ protocol, session, creds, logger, onFailure }) => {
  let failure = null
  let tail = Promise.resolve()
  let waitingCreds = null // the last queued write, if it is a creds write not yet sent

  const fail = err => {
    if (!failure) {
      failure = err
      onFailure(err)
    }
    throw err
  }

  const call = message => {
    if (failure) return Promise.reject(failure)
    return protocol.request({ ...message, session }).catch(fail)
  }

  const enqueue = buildPayload => {
    const run = tail.then(() => call({ type: 'state.set', ...buildPayload() }))
    tail = run.catch(() => {})
    return run
  }

  const saveCreds = () => {
    if (waitingCreds) return waitingCreds.promise
    const entry = {}
    entry.promise = enqueue(() => {
      if (waitingCreds === entry) waitingCreds = null
      return { creds }
    })
    waitingCreds = entry
    // Nobody awaits a creds save; a failure is already handled by onFailure.
    entry.promise.catch(() => {})
    return entry.promise
  }

  const store = {
    get: async (category, ids) => {
      const found = (await call({ type: 'keys.get', category, ids })) ?? {}
      if (category === 'app-state-sync-key') {
        for (const id of Object.keys(found)) found[id] = proto.Message.AppStateSyncKeyData.fromObject(found[id])
      }
      return found
    },
    set: data => {
      waitingCreds = null
      const keys = {}
      for (const [category, values] of Object.entries(data)) {
        keys[category] = {}
        // null deletes; undefined would vanish from the JSON, so it is sent as null too
        for (const [id, value] of Object.entries(values ?? {})) keys[category][id] = value ?? null
      }
      return enqueue(() => ({ keys }))
    }
  }

  // Our own cache instance so that close() can stop its timer: Baileys' default one lives forever.
  const cache = new NodeCache({ stdTTL: DEFAULT_CACHE_TTLS.SIGNAL_STORE, useClones: false })
  // Pre-keys are written by the hundred at the first login and each is read at most once, when a
  // contact starts a chat: caching them would only hold about 1 MB per session for minutes.
  const keyCache = {
    get: key => cache.get(key),
    set: (key, value) => key.startsWith('pre-key.') || cache.set(key, value),
    del: key => cache.del(key),
    flushAll: () => cache.flushAll()
  }

  return {
    state: { creds, keys: makeCacheableSignalKeyStore(store, logger, keyCache) },
    saveCreds,
    /** Resolves once every write queued so far has been answered (or has failed). */
    drain: () => tail,
    close: () => cache.close()
  }
}
