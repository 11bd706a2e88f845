// Entry point: node src/main.mjs --host 127.0.0.1 --ws-port 0 --control-port 0 [--refs 6]
//   [--root-key-file path] [--qr-timeout-ms n] [--contacts n]
//   [behaviour flags, see behaviours.mjs and README.md]
// Prints one JSON "ready" line on stdout; logs go to stderr.
import { parseArgs } from 'node:util'
import { behaviourFlags, behavioursFromArgs } from './behaviours.mjs'
import { makeServerIdentity, loadRootKey } from './certs.mjs'
import { startControlServer } from './control.mjs'
import { log } from './log.mjs'
import { Registry } from './registry.mjs'
import { startWsServer, WS_PATH } from './server.mjs'

const { values: args } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    'ws-port': { type: 'string', default: '0' },
    'control-port': { type: 'string', default: '0' },
    refs: { type: 'string', default: '6' },
    'root-key-file': { type: 'string' },
    'qr-timeout-ms': { type: 'string', default: '0' },
    contacts: { type: 'string', default: '0' },
    ...behaviourFlags
  }
})

const integerArg = (name, min) => {
  const value = Number(args[name])
  if (!Number.isInteger(value) || value < min) {
    process.stderr.write(`--${name} must be an integer >= ${min}\n`)
    process.exit(2)
  }
  return value
}
const wsPort = integerArg('ws-port', 0)
const controlPort = integerArg('control-port', 0)
const refs = integerArg('refs', 1)
const qrTimeoutMs = integerArg('qr-timeout-ms', 0)
let behaviours
try {
  behaviours = behavioursFromArgs(args)
} catch (err) {
  process.stderr.write(`${err.message}\n`)
  process.exit(2)
}

const presetContacts = integerArg('contacts', 0)

// libsignal narrates its session changes on the console, key material included; stdout carries only
// the ready line.
console.log = console.info = () => {}
console.warn = console.error = (...args) => log.debug(`libsignal: ${args.filter(a => typeof a === 'string').join(' ')}`)

const root = loadRootKey(args['root-key-file'])
const registry = new Registry({ refsPerSocket: refs, qrTimeoutMs, behaviours, presetContacts })
const wss = await startWsServer({ registry, identity: makeServerIdentity(root) }, { host: args.host, port: wsPort })
const control = await startControlServer(registry, { host: args.host, port: controlPort })

const hostForUrl = args.host.includes(':') ? `[${args.host}]` : args.host
process.stdout.write(
  JSON.stringify({
    ready: true,
    wsUrl: `ws://${hostForUrl}:${wss.address().port}${WS_PATH}`,
    controlUrl: `http://${hostForUrl}:${control.address().port}`,
    rootPublicKey: root.public.toString('base64')
  }) + '\n'
)
log.info(`WhatsApp emulator ready (refs per new device: ${refs}, behaviours: ${JSON.stringify(behaviours)})`)

const shutdown = signal => {
  log.info(`${signal}: shutting down`)
  registry.reset()
  control.close()
  wss.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 1000).unref()
}
process.once('SIGTERM', () => shutdown('SIGTERM'))
process.once('SIGINT', () => shutdown('SIGINT'))
