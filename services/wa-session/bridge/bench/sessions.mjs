// Memory and CPU of one bridge process with N connected sessions on the emulator.
//   node bench/sessions.mjs [N=100] [concurrency=5]
// 1. Pairs N sessions by QR through a first bridge (the auth store is the test harness's, in
//    memory in this process), then stops that bridge.
// 2. Logs them in through a second bridge (the first login also generates and uploads pre-keys).
// 3. Starts a third bridge and resumes all N from the stored state: the steady state of a running
//    instance. Each bridge's RSS and heap (from `ping`) are compared with its figures at start.
import { readFileSync } from 'node:fs'
import { linkByQr, memoryStore, startBridge, startEmulator } from '../test-support/harness.mjs'

const N = Number(process.argv[2] ?? 100)
const CONCURRENCY = Number(process.argv[3] ?? 5)
const SETTLE_MS = 15_000
const MB = 1024 * 1024

const cpuSeconds = pid => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100 // utime + stime, in 10 ms ticks
}
const mb = bytes => +(bytes / MB).toFixed(1)
const perSession = bytes => +(bytes / N / MB).toFixed(2)
const sessionId = i => `bench-${i}`

const inParallel = async work => {
  let next = 0
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < N) await work(next++)
  }))
}

const pair = (bridge, emulator) => async i => {
  const session = sessionId(i)
  await bridge.command('open', { session, pairingPhone: null })
  await linkByQr(bridge, emulator, await bridge.find(m => m.type === 'qr' && m.session === session, 60_000, `QR of ${session}`))
  await bridge.find(m => m.type === 'closed' && m.session === session, 60_000, `515 of ${session}`)
}

const resume = bridge => async i => {
  const session = sessionId(i)
  await bridge.command('open', { session, pairingPhone: null })
  await bridge.find(m => m.type === 'open' && m.session === session, 60_000, `open of ${session}`)
}

/** Runs `work` on every session in a fresh bridge and returns that bridge's figures, settled. */
const measure = async (emulator, store, work) => {
  const bridge = await startBridge({ emulator, store })
  const ping = async () => (await bridge.command('ping')).value
  const before = await ping()
  const t0 = Date.now()
  await inParallel(work(bridge, emulator))
  const seconds = (Date.now() - t0) / 1000
  const cpu = cpuSeconds(bridge.proc.pid)
  await new Promise(resolve => setTimeout(resolve, SETTLE_MS))
  const after = await ping()
  await bridge.stop()
  return {
    seconds,
    bridgeCpuSeconds: cpu,
    openSessions: after.openSessions,
    rssStartMB: mb(before.rssBytes),
    rssMB: mb(after.rssBytes),
    heapStartMB: mb(before.heapUsedBytes),
    heapMB: mb(after.heapUsedBytes),
    rssPerSessionMB: perSession(after.rssBytes - before.rssBytes),
    heapPerSessionMB: perSession(after.heapUsedBytes - before.heapUsedBytes)
  }
}

const emulator = await startEmulator(['--refs', '6'])
const store = memoryStore()
const pairing = await measure(emulator, store, pair)
const firstLogin = await measure(emulator, store, resume)
const connected = await measure(emulator, store, resume)
const state = await emulator.state()
console.log(JSON.stringify({
  sessions: N,
  pairing,
  firstLogin,
  connected,
  maxLiveSocketsPerLogin: Math.max(...Object.values(state.maxLiveSocketsPerLogin))
}, null, 1))
await emulator.stop()
