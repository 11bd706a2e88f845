// How sessions end: from the phone (401), by another socket (440), by the network, by the server
// refusing, by wa-session's own logout, and by a fence on the auth state.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { assertOk, linkByQr, loginByQr, memoryStore, startBridge, startEmulator, waitFor } from '../test-support/harness.mjs'

let emulator
let bridge
let store

before(async () => {
  emulator = await startEmulator(['--refs', '3'])
  store = memoryStore()
  bridge = await startBridge({ emulator, store })
})
after(async () => {
  await bridge?.stop()
  await emulator?.stop()
})

const liveSockets = async phone => (await emulator.state()).devices.find(d => d.phone === phone)?.liveSockets

const closedFields = ({ code, reason, message }) => ({ code, reason, message })

test('logout from the phone: closed 401 logged_out', async () => {
  const phone = await loginByQr(bridge, emulator, 'phone-logout')
  assert.equal((await emulator.call('POST', '/logout', { phone })).status, 200)
  const closed = await bridge.event('closed', 'phone-logout')
  assert.equal(closed.code, 401)
  assert.equal(closed.reason, 'logged_out')
})

test('conflict: closed 440 replaced, and the bridge does not reconnect', async () => {
  const phone = await loginByQr(bridge, emulator, 'conflict')
  assert.equal((await emulator.call('POST', '/conflict', { phone })).status, 200)
  const closed = await bridge.event('closed', 'conflict')
  assert.deepEqual(closedFields(closed), { code: 440, reason: 'replaced', message: 'Stream Errored (conflict)' })
  assert.equal(await liveSockets(phone), 0)
  assert.equal(assertOk(await bridge.command('ping')).value.sessions, 0)
})

test('network cut: closed 428 connection_closed', async () => {
  const phone = await loginByQr(bridge, emulator, 'drop')
  assert.equal((await emulator.call('POST', '/drop', { phone })).status, 200)
  const closed = await bridge.event('closed', 'drop')
  assert.deepEqual({ code: closed.code, reason: closed.reason }, { code: 428, reason: 'connection_closed' })
})

test('server refusal 405: closed client_too_old, no newer version (no WA_BRIDGE_VERSION_URL)', async () => {
  assert.equal((await emulator.call('POST', '/refuse', { code: 405, count: 1 })).status, 200)
  assertOk(await bridge.command('open', { session: 'refused', pairingPhone: null }))
  const closed = await bridge.event('closed', 'refused')
  assert.deepEqual(
    { code: closed.code, reason: closed.reason, versionRefreshed: closed.versionRefreshed },
    { code: 405, reason: 'client_too_old', versionRefreshed: false }
  )
})

test('logout command: the companion is removed, closed 401 logged_out; logout again is a no-op', async () => {
  const phone = await loginByQr(bridge, emulator, 'cmd-logout')
  assertOk(await bridge.command('logout', { session: 'cmd-logout' }))
  const closed = await bridge.event('closed', 'cmd-logout')
  assert.deepEqual(closedFields(closed), { code: 401, reason: 'logged_out', message: 'Intentional Logout' })
  await waitFor(async () => (await emulator.state()).devices.find(d => d.phone === phone)?.loggedIn === false, 5_000, 'the device to be removed')
  assertOk(await bridge.command('logout', { session: 'cmd-logout' }))
})

/** Pairs `session`, makes the store refuse its writes with `error`, opens it again: the login's writes fail. */
const openWithRefusedWrites = async (session, error) => {
  assertOk(await bridge.command('open', { session, pairingPhone: null }))
  const body = await linkByQr(bridge, emulator, await bridge.event('qr', session))
  assert.equal((await bridge.event('closed', session)).code, 515)

  store.refuse(session, 'writes', error)
  const writesBefore = store.writes.length
  const seenBefore = bridge.messages.length
  assertOk(await bridge.command('open', { session, pairingPhone: null }))
  const closed = await bridge.event('closed', session, 15_000)
  const tried = bridge.messages.slice(seenBefore).filter(m => m.type === 'state.set' && m.session === session)
  assert.ok(tried.length >= 1, 'the login tried to write')
  assert.equal(store.writes.length, writesBefore, 'no write was accepted')
  await waitFor(async () => (await liveSockets(body.phone)) === 0, 5_000, 'the socket to be gone at the emulator')
  return closed
}

test('fenced write: the socket is ended at once and closed says fenced', async () => {
  const closed = await openWithRefusedWrites('fenced', 'fenced')
  assert.deepEqual(closedFields(closed), { code: null, reason: 'fenced', message: 'auth state: fenced' })

  // Fenced reads: the open itself fails and no session is left behind.
  store.refuse('fenced')
  const reply = await bridge.command('open', { session: 'fenced', pairingPhone: null })
  assert.deepEqual({ ok: reply.ok, error: reply.error }, { ok: false, error: 'fenced' })
  assert.equal(assertOk(await bridge.command('ping')).value.sessions, 0)
})

test('any other failed write ends that session with bridge_error, the others stay up', async () => {
  const other = await loginByQr(bridge, emulator, 'bystander')
  const closed = await openWithRefusedWrites('db-down', 'database unavailable')
  assert.deepEqual(closedFields(closed), { code: null, reason: 'bridge_error', message: 'auth state: database unavailable' })
  assert.equal(await liveSockets(other), 1, 'the other session is untouched')
  assertOk(await bridge.command('close', { session: 'bystander' }))
})
