// On demand: a passkey prompt instead of pairing after a scan, and a pairing-code primary_hello
// without primary_identity_pub, which rc14 cannot read.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { getBinaryNodeChild } from 'baileys'
import { connect, memoryAuth, startEmulator, waitFor } from './helpers.mjs'

const PHONE = '79991234000'
let emulator

before(async () => {
  emulator = await startEmulator(['--companion-reg-refresh', 'off', '--passkey-prompt', 'on'])
})
after(() => emulator?.stop())

/** A logger that keeps what Baileys reports as errors. */
const recordingLogger = () => {
  const errors = []
  const logger = {
    level: 'error',
    child: () => logger,
    trace() {},
    debug() {},
    info() {},
    warn() {},
    error: (obj, msg) => errors.push({ err: obj?.err ?? obj?.error ?? obj, msg }),
    fatal() {}
  }
  return { logger, errors }
}

test('passkey prompt: the scan is refused with 403 and the companion gets passkey_prologue_request', async () => {
  const client = connect(emulator, memoryAuth())
  const prompted = new Promise(resolve => client.sock.ws.on('CB:notification,type:passkey_prologue_request', resolve))
  const { qr } = await client.next('connection.update', u => !!u.qr, 5_000, 'a QR')
  const scan = await emulator.call('POST', '/scan', { qr })
  assert.equal(scan.status, 403)
  assert.match(scan.body.error, /passkey/)
  const node = await prompted
  const options = JSON.parse(getBinaryNodeChild(node, 'passkey_prologue_request').content.toString())
  assert.equal(options.rpId, 'whatsapp.com')
  assert.equal(client.events.filter(e => e.data.isNewLogin).length, 0, 'not linked')
  client.sock.end(undefined)
  await client.closed()

  assert.equal((await emulator.call('POST', '/behaviours', { passkeyPrompt: false })).body.passkeyPrompt, false)
  const linked = connect(emulator, memoryAuth())
  const { qr: next } = await linked.next('connection.update', u => !!u.qr, 5_000, 'a QR')
  assert.equal((await emulator.call('POST', '/scan', { qr: next })).status, 200, 'switched off, the scan links')
  assert.equal((await linked.closed()).statusCode, 515)
})

test('a primary_hello without primary_identity_pub: rc14 fails with "Invalid buffer" and never finishes', async () => {
  assert.equal((await emulator.call('POST', '/behaviours', { linkCodeWithoutIdentity: true })).status, 200)
  const { logger, errors } = recordingLogger()
  const client = connect(emulator, memoryAuth(), { logger })
  const hello = new Promise(resolve => client.sock.ws.on('CB:notification,type:link_code_companion_reg', resolve))
  await client.next('connection.update', u => !!u.qr, 5_000, 'a QR')
  const code = await client.sock.requestPairingCode(PHONE)
  await waitFor(async () => (await emulator.state()).pending.some(p => p.phone === PHONE), 5_000, 'the code request')

  const typed = await emulator.call('POST', '/pairing-code', { code, phone: PHONE })
  assert.equal(typed.status, 409)
  assert.match(typed.body.error, /primary_identity_pub/)
  const reg = getBinaryNodeChild(await hello, 'link_code_companion_reg')
  assert.equal(reg.attrs.stage, 'primary_hello')
  assert.equal(getBinaryNodeChild(reg, 'primary_identity_pub'), undefined)
  const failure = await waitFor(() => errors.find(e => /Invalid buffer/.test(e.err?.message)), 5_000, "rc14's error")
  assert.match(failure.msg, /handling notification/)
  assert.equal(client.events.filter(e => e.data.isNewLogin).length, 0, 'not linked')
  client.sock.end(undefined)
  await client.closed()
})
