// A stale WhatsApp Web version is refused with 405: closed client_too_old. With
// WA_BRIDGE_VERSION_URL the bridge reads the current version there and says so
// (versionRefreshed), and the next `open` gets through.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { after, before, test } from 'node:test'
import { assertOk, memoryStore, startBridge, startEmulator } from '../test-support/harness.mjs'

const CURRENT = '2.3000.1050000001'
let emulator

before(async () => {
  emulator = await startEmulator(['--min-version', CURRENT, '--current-version', CURRENT])
})
after(() => emulator?.stop())

const closedFields = ({ code, reason, versionRefreshed }) => ({ code, reason, versionRefreshed })

test('no version URL: closed 405 client_too_old, versionRefreshed false, and the version stays', async () => {
  const bridge = await startBridge({ emulator, store: memoryStore() })
  assertOk(await bridge.command('open', { session: 'stale', pairingPhone: null }))
  assert.deepEqual(closedFields(await bridge.event('closed', 'stale')), { code: 405, reason: 'client_too_old', versionRefreshed: false })
  assert.equal(assertOk(await bridge.command('ping')).value.waVersion, '2.3000.1043857760', "rc14's built-in version")
  assert.equal(await bridge.stop(), 0)
})

test('with WA_BRIDGE_VERSION_URL: every refused session hears versionRefreshed true, and the retry gets a QR', async () => {
  const bridge = await startBridge({
    emulator,
    store: memoryStore(),
    env: { WA_BRIDGE_VERSION_URL: `${emulator.info.controlUrl}/sw.js` }
  })
  assertOk(await bridge.command('open', { session: 'a', pairingPhone: null }))
  assertOk(await bridge.command('open', { session: 'b', pairingPhone: null }))
  assert.deepEqual(closedFields(await bridge.event('closed', 'a')), { code: 405, reason: 'client_too_old', versionRefreshed: true })
  assert.deepEqual(closedFields(await bridge.find(m => m.type === 'closed' && m.session === 'b')), {
    code: 405,
    reason: 'client_too_old',
    versionRefreshed: true
  })
  assert.equal(assertOk(await bridge.command('ping')).value.waVersion, CURRENT)

  assertOk(await bridge.command('open', { session: 'a', pairingPhone: null }))
  const qr = await bridge.next(m => m.session === 'a' && (m.type === 'qr' || m.type === 'closed'), 10_000, 'a QR')
  assert.equal(qr.type, 'qr', 'the new version is accepted')
  assertOk(await bridge.command('close', { session: 'a' }))

  // Refused again with the version just read: no newer one, wa-session backs off.
  assert.equal((await emulator.call('POST', '/behaviours', { minVersion: '2.3000.1050000002' })).status, 200)
  try {
    assertOk(await bridge.command('open', { session: 'c', pairingPhone: null }))
    assert.deepEqual(closedFields(await bridge.event('closed', 'c')), { code: 405, reason: 'client_too_old', versionRefreshed: false })
  } finally {
    await emulator.call('POST', '/behaviours', { minVersion: CURRENT })
  }
  assert.equal(await bridge.stop(), 0)
})

test('WA_BRIDGE_WA_VERSION sets the version; a malformed one stops the bridge with exit code 2', async () => {
  const bridge = await startBridge({ emulator, store: memoryStore(), env: { WA_BRIDGE_WA_VERSION: CURRENT } })
  assertOk(await bridge.command('open', { session: 'set', pairingPhone: null }))
  assert.equal((await bridge.event('qr', 'set')).index, 1)
  assert.equal(await bridge.stop(), 0)

  const main = fileURLToPath(new URL('../src/main.mjs', import.meta.url))
  for (const env of [{ WA_BRIDGE_WA_VERSION: '2.3000' }, { WA_BRIDGE_ACK_STATUS: 'no' }]) {
    const run = spawnSync(process.execPath, [main], { env: { ...process.env, ...env }, input: '', encoding: 'utf8', timeout: 10_000 })
    assert.equal(run.status, 2, JSON.stringify(env))
    assert.equal(run.stdout, '', 'no bridge.ready')
  }
})
