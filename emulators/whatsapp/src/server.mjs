// The WebSocket endpoint Baileys connects to (its `waWebSocketUrl`).
import { WebSocketServer } from 'ws'
import { Connection } from './connection.mjs'
import { log } from './log.mjs'

export const WS_PATH = '/ws/chat'

export const startWsServer = (context, { host, port }) => {
  const wss = new WebSocketServer({ host, port, path: WS_PATH, perMessageDeflate: false, clientTracking: true })
  wss.on('connection', ws => {
    const conn = new Connection(ws, context)
    context.registry.addConnection(conn)
    log.debug(`${conn.id}: connected`)
  })
  return new Promise((resolve, reject) => {
    wss.once('error', reject)
    wss.once('listening', () => resolve(wss))
  })
}
