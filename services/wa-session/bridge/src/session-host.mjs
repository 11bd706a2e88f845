// Many Baileys sockets in one process, one per session id. The host never reconnects on its own:
// it reports every close and wa-session decides whether and when to send `open` again.
import NodeCache from '@cacheable/node-cache'
import makeWASocket, { Browsers, DEFAULT_CACHE_TTLS, jidDecode } from 'baileys'
import { createAuthState, loadCreds } from './auth-state.mjs'
import { describeClose } from './close-reason.mjs'
import { guardLinkCodeHello, watchPasskeyPrompt } from './login-gates.mjs'
import { createQrCodes } from './qr-codes.mjs'
import { handleRegRefresh } from './reg-refresh.mjs'
import { ackNotificationsBeforeLogin, ackStatusStanzas, createAckBeforeLogin } from './stanza-acks.mjs'
import { createWaVersion, formatWaVersion } from './wa-version.mjs'

export const createSessionHost = ({ protocol, logger, config }) => {
  const sessions = new Map() // session id -> entry (from `open` until its `closed` event is sent)
  const waVersion = createWaVersion({ initial: config.waVersion, url: config.versionUrl, logger })

  const emit = (type, session, fields) => protocol.send({ type, session, ...fields })

  const phoneOf = jid => (jid ? jidDecode(jid)?.user ?? null : null)

  /** Ends a session for a reason of the bridge's own; the first reason given wins. */
  const stop = (entry, reason, message = '') => {
    if (entry.own || entry.state === 'closing') return
    entry.own = { reason, message }
    // end(undefined) closes without logging out.
    entry.sock?.end(message ? new Error(message) : undefined).catch(err => {
      logger.error({ session: entry.id, err }, 'ending the socket failed')
    })
  }

  /** A failed read or write of the auth state: fenced, or anything else (bridge_error). */
  const onAuthFailure = (entry, err) => {
    const own = { reason: err.message === 'fenced' ? 'fenced' : 'bridge_error', message: `auth state: ${err.message}` }
    // Already closing (e.g. after 515): still report it, wa-session must not trust that state.
    if (entry.state === 'closing') entry.own ??= own
    else stop(entry, own.reason, own.message)
  }

  const finish = async (entry, error) => {
    if (entry.state === 'closing') return
    entry.state = 'closing'
    clearTimeout(entry.leaseTimer)
    // Every state.set sent so far is answered before wa-session hears of the close, so the creds
    // of a fresh pairing are durable by the time it reacts to 515 with a new `open`.
    await entry.auth?.drain()
    const closed = describeClose(error, entry.own)
    // Tells wa-session whether one more `open` may get through (with the version just read).
    if (closed.reason === 'client_too_old') closed.versionRefreshed = await waVersion.refreshAfterRefusal(entry.version)
    entry.auth?.close()
    for (const cache of entry.caches) cache.close()
    sessions.delete(entry.id)
    emit('closed', entry.id, closed)
    entry.resolveDone()
  }

  /** Ends the session (no logout) unless `lease` or `open` moves this deadline on in time. */
  const setLease = (entry, ms) => {
    clearTimeout(entry.leaseTimer)
    entry.leaseTimer = setTimeout(() => stop(entry, 'lease_expired', `lease not renewed within ${ms} ms`), ms)
  }

  const requestPairingCode = async entry => {
    try {
      const code = await entry.sock.requestPairingCode(entry.pairingPhone)
      emit('pairing_code', entry.id, { code })
    } catch (err) {
      stop(entry, 'bridge_error', `pairing code request failed: ${err.message}`)
    }
  }

  const onConnectionUpdate = (entry, update) => {
    const { connection, qr, isNewLogin, lastDisconnect } = update
    const creds = entry.auth.state.creds
    if (qr) {
      emit('qr', entry.id, entry.qrCodes.shown(qr))
      // The first QR shows that the server is waiting for a companion: the moment to ask for a code.
      if (entry.pairingPhone && !entry.pairingRequested) {
        entry.pairingRequested = true
        void requestPairingCode(entry)
      }
    }
    if (isNewLogin) emit('paired', entry.id, { phone: phoneOf(creds.me?.id) })
    if (connection === 'open') {
      entry.isOpen = true
      emit('open', entry.id, { phone: phoneOf(creds.me?.id), jid: creds.me?.id ?? null })
    }
    if (connection === 'close') void finish(entry, lastDisconnect?.error)
  }

  /** What today's servers send that rc14 mishandles; each handling can be switched off (config.handle). */
  const handleServerStanzas = entry => {
    const { sock, logger: sessionLogger } = entry
    const ackBeforeLogin = createAckBeforeLogin(sock, sessionLogger)
    const handle = config.handle
    const onGate = (reason, message) => stop(entry, reason, message)
    if (handle.regRefresh) {
      handleRegRefresh({
        sock,
        inPairingCodeFlow: () => entry.pairingRequested,
        ackBeforeLogin,
        onRotated: secret => {
          const again = entry.qrCodes.rotated(secret)
          if (again) emit('qr', entry.id, again)
        },
        logger: sessionLogger
      })
    }
    if (handle.passkey) watchPasskeyPrompt({ sock, ackBeforeLogin, onGate })
    if (handle.linkCodeGuard) guardLinkCodeHello({ sock, onGate })
    if (handle.ackBeforeLogin) ackNotificationsBeforeLogin(sock, ackBeforeLogin)
    if (handle.ackStatus) ackStatusStanzas(sock, sessionLogger)
  }

  const startSocket = (entry, creds) => {
    entry.auth = createAuthState({
      protocol,
      session: entry.id,
      creds,
      logger,
      onFailure: err => onAuthFailure(entry, err)
    })
    // Caches Baileys would otherwise create itself and never stop (their timers keep them alive).
    const cache = stdTTL => new NodeCache({ stdTTL, useClones: false })
    const [msgRetryCounterCache, callOfferCache, userDevicesCache, placeholderResendCache] = (entry.caches = [
      cache(DEFAULT_CACHE_TTLS.MSG_RETRY),
      cache(DEFAULT_CACHE_TTLS.CALL_OFFER),
      cache(DEFAULT_CACHE_TTLS.USER_DEVICES),
      cache(DEFAULT_CACHE_TTLS.MSG_RETRY)
    ])
    entry.qrCodes = createQrCodes({ qrTimeoutMs: config.qrTimeoutMs })
    entry.version = waVersion.current()
    entry.sock = makeWASocket({
      auth: entry.auth.state,
      logger: entry.logger,
      browser: Browsers.ubuntu('Chrome'),
      version: entry.version,
      ...(config.wsUrl ? { waWebSocketUrl: config.wsUrl } : {}),
      ...(config.qrTimeoutMs ? { qrTimeout: config.qrTimeoutMs } : {}),
      markOnlineOnConnect: false,
      syncFullHistory: false,
      shouldSyncHistoryMessage: () => false,
      enableRecentMessageCache: false,
      // A failed write ends the session, so retrying a commit would only delay that.
      transactionOpts: { maxCommitRetries: 1, delayBetweenTriesMs: 0 },
      msgRetryCounterCache,
      callOfferCache,
      userDevicesCache,
      placeholderResendCache
    })
    entry.state = 'running'
    entry.sock.ev.on('creds.update', () => entry.auth.saveCreds())
    handleServerStanzas(entry)
    entry.sock.ev.on('connection.update', update => {
      try {
        onConnectionUpdate(entry, update)
      } catch (err) {
        logger.error({ session: entry.id, err }, 'connection.update handler failed')
        stop(entry, 'bridge_error', err.message)
      }
    })
  }

  const open = async ({ session, pairingPhone, leaseMs }) => {
    const existing = sessions.get(session)
    if (existing && existing.state !== 'closing') {
      if (leaseMs) setLease(existing, leaseMs)
      return
    }
    // An `open` right behind a close waits for that close to be reported first.
    if (existing) await existing.done
    if (sessions.has(session)) return

    let resolveDone
    const entry = {
      id: session,
      logger: logger.child({ session }),
      pairingPhone: pairingPhone ?? null,
      state: 'starting',
      sock: null,
      auth: null,
      caches: [],
      own: null, // { reason, message } when the bridge itself ends the session
      isOpen: false,
      qrCodes: null,
      version: null, // the WhatsApp Web version its socket announces
      leaseTimer: null,
      pairingRequested: false,
      done: new Promise(resolve => (resolveDone = resolve)),
      resolveDone: () => resolveDone()
    }
    sessions.set(session, entry)
    if (leaseMs) setLease(entry, leaseMs)

    let creds
    try {
      creds = await loadCreds(protocol, session)
    } catch (err) {
      // Not opened, so no `closed` follows: the error reply is the whole answer.
      clearTimeout(entry.leaseTimer)
      sessions.delete(session)
      entry.resolveDone()
      throw err
    }
    // A `close` that arrived while the creds were on their way.
    if (entry.own) return finish(entry, undefined)
    try {
      startSocket(entry, creds)
    } catch (err) {
      logger.error({ session, err }, 'could not build the socket')
      entry.own = { reason: 'bridge_error', message: `could not build the socket: ${err.message}` }
      await finish(entry, err)
    }
  }

  const close = async ({ session }) => {
    const entry = sessions.get(session)
    if (!entry) return
    stop(entry, 'stopped')
    await entry.done
  }

  const logout = async ({ session }) => {
    const entry = sessions.get(session)
    if (!entry) return
    if (entry.isOpen && entry.state === 'running' && !entry.own) {
      // Tells the server to remove this companion, then ends the socket (closed: 401 logged_out).
      await entry.sock.logout().catch(err => stop(entry, 'stopped', `logout failed: ${err.message}`))
    } else {
      stop(entry, 'stopped')
    }
    await entry.done
  }

  /** Moves each listed session's deadline to now + ms; returns how many sessions it applied to. */
  const lease = ({ leases }) => {
    let applied = 0
    for (const { session, ms } of leases) {
      const entry = sessions.get(session)
      if (!entry || entry.state === 'closing' || entry.own) continue
      setLease(entry, ms)
      applied += 1
    }
    return { applied }
  }

  const ping = () => {
    const { rss, heapUsed } = process.memoryUsage()
    let open = 0
    for (const entry of sessions.values()) if (entry.isOpen && entry.state === 'running') open += 1
    return {
      sessions: sessions.size,
      openSessions: open,
      rssBytes: rss,
      heapUsedBytes: heapUsed,
      waVersion: formatWaVersion(waVersion.current())
    }
  }

  const requireSession = msg => {
    if (typeof msg.session !== 'string' || !msg.session) throw new Error('"session" must be a non-empty string')
  }

  const isLeaseMs = value => Number.isInteger(value) && value > 0

  // A list, not an object keyed by session id: the protocol's reviver (Baileys' BufferJSON) turns
  // an object whose keys all start with a digit and whose values are all numbers into a Buffer.
  const requireLeases = msg => {
    const { leases } = msg
    if (!Array.isArray(leases)) throw new Error('"leases" must be a list of {session, ms}')
    for (const item of leases) {
      if (item === null || typeof item !== 'object' || typeof item.session !== 'string' || !item.session) {
        throw new Error('each lease needs a "session" string')
      }
      if (!isLeaseMs(item.ms)) throw new Error(`lease of "${item.session}" must be a positive integer (ms)`)
    }
  }

  /** Dispatches one command; the value returned becomes the reply's `value`. */
  const handle = async msg => {
    switch (msg.cmd) {
      case 'open':
        requireSession(msg)
        if (msg.pairingPhone != null && !/^\d{6,15}$/.test(msg.pairingPhone)) {
          throw new Error('"pairingPhone" must be null or 6 to 15 digits')
        }
        if (msg.leaseMs != null && !isLeaseMs(msg.leaseMs)) throw new Error('"leaseMs" must be null or a positive integer')
        return open(msg)
      case 'close':
        requireSession(msg)
        return close(msg)
      case 'logout':
        requireSession(msg)
        return logout(msg)
      case 'lease':
        requireLeases(msg)
        return lease(msg)
      case 'ping':
        return ping()
      default:
        throw new Error(`unknown command "${msg.cmd}"`)
    }
  }

  /** Ends every socket without logging out (bridge shutdown). */
  const closeAll = () => Promise.all([...sessions.values()].map(entry => close({ session: entry.id })))

  return { handle, closeAll }
}
