// Control API (HTTP JSON on loopback) used by tests and the demo to play the phone and the network.
import { createServer } from 'node:http'
import { BehaviourError, parseVersion } from './behaviours.mjs'
import { messagingRoutes } from './messaging-control.mjs'
import { enterPairingCode, PhoneError, scanQr, sendRegRefresh } from './phone.mjs'
import { log } from './log.mjs'

const MAX_BODY = 64 * 1024

const readJson = req =>
  new Promise((resolve, reject) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', chunk => {
      body += chunk
      if (body.length > MAX_BODY) reject(new PhoneError(413, 'body too large'))
    })
    req.on('end', () => {
      try {
        resolve(body ? JSON.parse(body) : {})
      } catch {
        reject(new PhoneError(400, 'body is not JSON'))
      }
    })
    req.on('error', reject)
  })

const requirePhone = (registry, body) => {
  const phone = body.phone && String(body.phone)
  if (!phone || !registry.accounts.has(phone)) throw new PhoneError(404, 'unknown phone')
  return phone
}

const makeRoutes = registry => ({
  'GET /state': () => registry.state(),

  'GET /qr': () =>
    registry.pendingConnections().map(c => ({ socketId: c.id, ref: c.describePending().currentRef, qr: c.scannedQrs.at(-1) ?? null })),

  'POST /scan': body => {
    if (!body.qr) throw new PhoneError(400, 'qr is required')
    return scanQr(registry, body.qr, body.phone && String(body.phone))
  },

  'POST /pairing-code': body => {
    if (!body.code) throw new PhoneError(400, 'code is required')
    const code = String(body.code).replace(/-/g, '').toUpperCase()
    return enterPairingCode(registry, code, body.phone && String(body.phone))
  },

  // Removing the device on the phone: the live socket gets a 401 stream error, later logins a 401 failure.
  'POST /logout': body => {
    const phone = requirePhone(registry, body)
    for (const device of registry.devicesOf(phone)) device.loggedOut = true
    const sockets = registry.liveSockets(phone)
    for (const conn of sockets) conn.streamError({ code: '401' }, [{ tag: 'conflict', attrs: { type: 'device_removed' } }])
    return { phone, closedSockets: sockets.length }
  },

  'POST /conflict': body => {
    const phone = requirePhone(registry, body)
    const sockets = registry.liveSockets(phone)
    for (const conn of sockets) conn.streamError({}, [{ tag: 'conflict', attrs: { type: 'replaced' } }])
    return { phone, closedSockets: sockets.length }
  },

  // "close": TCP gone at once (Baileys: 428). "silent": the socket stays up but nothing answers,
  // so Baileys' keep-alive notices the loss (408 "Connection was lost").
  'POST /drop': body => {
    const phone = requirePhone(registry, body)
    const sockets = registry.liveSockets(phone)
    for (const conn of sockets) {
      if (body.mode === 'silent') conn.goSilent()
      else conn.terminate()
    }
    return { phone, droppedSockets: sockets.length }
  },

  'POST /refuse': body => {
    const code = Number(body.code ?? 405)
    const count = Number(body.count ?? 1)
    if (!Number.isInteger(code) || code < 400 || !Number.isInteger(count) || count < 0) {
      throw new PhoneError(400, 'code must be an HTTP-like status >= 400 and count a non-negative integer')
    }
    registry.refusal = { code, count }
    return registry.refusal
  },

  'GET /behaviours': () => registry.behaviours,

  // A partial object: only the behaviours named change.
  'POST /behaviours': body => {
    try {
      return registry.setBehaviours(body)
    } catch (err) {
      throw err instanceof BehaviourError ? new PhoneError(400, err.message) : err
    }
  },

  // On demand, to one pending socket or to all: it retires no secret the phone has seen.
  'POST /companion-reg-refresh': body => {
    const sockets = registry.pendingConnections().filter(c => !body.socketId || c.id === body.socketId)
    if (!sockets.length) throw new PhoneError(404, 'no socket waits to be linked')
    return sockets.map(conn => ({ socketId: conn.id, id: sendRegRefresh(conn) }))
  },

  'POST /reset': () => {
    registry.reset()
    return { reset: true }
  },

  ...messagingRoutes(registry)
})

/**
 * WhatsApp Web's service worker as far as a client reads it for the current version (Baileys'
 * fetchLatestWaWebVersion): a `"client_revision":N` inside an escaped JSON string. Clients take N
 * as the third part of 2.3000.N.
 */
const serviceWorker = registry => {
  const revision = parseVersion(registry.behaviours.currentVersion)[2]
  const config = JSON.stringify(JSON.stringify({ client_revision: revision, server_revision: revision }))
  return `/* WhatsApp emulator */\nself.__WA_CONFIG = JSON.parse(${config});\n`
}

export const startControlServer = (registry, { host, port }) => {
  const routes = makeRoutes(registry)
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x')
    if (req.method === 'GET' && url.pathname === '/sw.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' })
      res.end(serviceWorker(registry))
      return
    }
    const route = routes[`${req.method} ${url.pathname}`]
    let status = 200
    let payload
    try {
      if (!route) throw new PhoneError(404, 'no such endpoint')
      payload = await route(req.method === 'POST' ? await readJson(req) : Object.fromEntries(url.searchParams))
    } catch (err) {
      status = err instanceof PhoneError ? err.status : 500
      payload = { error: err.message }
      if (status === 500) log.error(`control ${req.method} ${req.url}: ${err.stack}`)
    }
    log.info(`control ${req.method} ${req.url} -> ${status}`)
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(payload))
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve(server))
  })
}
