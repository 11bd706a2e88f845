// Disconnects ordered through the control API, as Baileys reports them (2025 server, plain rc14).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { connect, openSession, pairByQr, SERVER_2025, startEmulator } from './helpers.mjs'

let emulator
let login // { auth, phone, jid } paired once, reused by every test

before(async () => {
  emulator = await startEmulator(SERVER_2025)
  login = await pairByQr(emulator)
})
after(() => emulator?.stop())

test('conflict: the live socket closes with 440', async () => {
  const session = await openSession(emulator, login.auth)
  assert.equal((await emulator.call('POST', '/conflict', { phone: login.phone })).status, 200)
  assert.deepEqual(await session.closed(), { statusCode: 440, message: 'Stream Errored (conflict)' })
})

test('drop: the connection is cut, Baileys sees it closed (428)', async () => {
  const session = await openSession(emulator, login.auth)
  assert.equal((await emulator.call('POST', '/drop', { phone: login.phone })).status, 200)
  assert.equal((await session.closed()).statusCode, 428)
})

test('silent drop: keep-alive gets no answer, Baileys reports the connection lost (408)', async () => {
  const session = await openSession(emulator, login.auth, { keepAliveIntervalMs: 500 })
  assert.equal((await emulator.call('POST', '/drop', { phone: login.phone, mode: 'silent' })).status, 200)
  assert.deepEqual(await session.closed(10_000), { statusCode: 408, message: 'Connection was lost' })
})

test('refuse: the next attempts fail with the ordered code, then logins work again', async () => {
  assert.equal((await emulator.call('POST', '/refuse', { code: 405, count: 2 })).status, 200)
  for (let i = 0; i < 2; i++) {
    assert.deepEqual(await connect(emulator, login.auth).closed(), { statusCode: 405, message: 'Connection Failure' })
  }
  const session = await openSession(emulator, login.auth)
  session.sock.end(undefined)
  await session.closed()
})

test('a second socket on the same creds replaces the first (440) and is counted', async () => {
  const first = await openSession(emulator, login.auth)
  const state = (await emulator.call('GET', '/state')).body
  assert.equal(state.maxLiveSocketsPerLogin[login.phone], 1, 'one socket at a time so far')

  const second = await openSession(emulator, login.auth)
  assert.equal((await first.closed()).statusCode, 440)
  const after = (await emulator.call('GET', '/state')).body
  assert.equal(after.maxLiveSocketsPerLogin[login.phone], 2, 'the overlap is recorded')
  second.sock.end(undefined)
  await second.closed()
})

test('reset: every socket closed, every device forgotten', async () => {
  const session = await openSession(emulator, login.auth)
  assert.equal((await emulator.call('POST', '/reset')).status, 200)
  assert.equal((await session.closed()).statusCode, 428)
  assert.deepEqual((await emulator.call('GET', '/state')).body, { devices: [], pending: [], maxLiveSocketsPerLogin: {}, notifications: [] })
  assert.deepEqual(await connect(emulator, login.auth).closed(), { statusCode: 401, message: 'Connection Failure' })
})
