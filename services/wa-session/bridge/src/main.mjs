// Entry point: `node src/main.mjs`, driven by wa-session over stdin/stdout (see PROTOCOL.md).
import { createRequire } from 'node:module'
import { WA_CERT_DETAILS } from 'baileys'
import { readConfig } from './config.mjs'
import { captureConsole, createLogger } from './logger.mjs'
import { createProtocol } from './protocol.mjs'
import { createSessionHost } from './session-host.mjs'

const SHUTDOWN_GRACE_MS = 5_000

const baileysVersion = createRequire(import.meta.url)('baileys/package.json').version

let config
try {
  config = readConfig()
} catch (err) {
  process.stderr.write(JSON.stringify({ level: 50, msg: err.message }) + '\n')
  process.exit(2)
}

const { logger, flush } = createLogger(config.logLevel)
captureConsole(logger)

if (config.trustRootKey) {
  // Process-wide: every socket now trusts this root (an emulator) and no longer WhatsApp's.
  WA_CERT_DETAILS.PUBLIC_KEY = config.trustRootKey
  logger.warn('WA_BRIDGE_TRUST_ROOT_KEY is set: the WhatsApp certificate root is REPLACED, use only against an emulator')
}

// One session's bug must not take the others down; per-session errors are reported as `closed`.
process.on('uncaughtException', err => logger.error({ err }, 'uncaught exception'))
process.on('unhandledRejection', err => logger.error({ err }, 'unhandled rejection'))

const protocol = createProtocol({
  input: process.stdin,
  output: process.stdout,
  logger,
  requestTimeoutMs: config.requestTimeoutMs
})
const host = createSessionHost({ protocol, logger, config })
protocol.handleCommands(host.handle)

let shuttingDown = false
const shutdown = async why => {
  if (shuttingDown) return
  shuttingDown = true
  logger.info({ why }, 'closing all sessions')
  const grace = new Promise(resolve => setTimeout(resolve, SHUTDOWN_GRACE_MS).unref())
  await Promise.race([host.closeAll(), grace])
  flush()
  process.exit(0)
}

// wa-session going away (stdin closed, or stdout no longer read) ends the bridge, never a logout.
protocol.ended.then(() => shutdown('stdin closed'))
process.stdout.on('error', () => shutdown('stdout closed'))
process.on('SIGTERM', () => shutdown('SIGTERM'))
process.on('SIGINT', () => shutdown('SIGINT'))

protocol.send({ type: 'bridge.ready', version: baileysVersion, pid: process.pid })
