// Load probe: pairs N fresh logins by QR and keeps them all open at once against one emulator,
// then reports the emulator's memory and CPU. Usage: node bench/concurrent-sessions.mjs [N] [holdSeconds]
import { readFileSync } from 'node:fs'
import { openSession, pairByQr, SERVER_2025, startEmulator } from '../test/helpers.mjs'

const total = Number(process.argv[2] || 100)
const holdSeconds = Number(process.argv[3] || 30)
const BATCH = 20

const usage = pid => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  const ticks = Number(stat[11]) + Number(stat[12]) // utime + stime (fields 14, 15)
  const rssKb = Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1])
  return { cpuSeconds: ticks / 100, rssMb: Math.round(rssKb / 1024) }
}

const inBatches = async (count, fn) => {
  const out = []
  for (let start = 0; start < count; start += BATCH) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(BATCH, count - start) }, (_, i) => fn(start + i)))))
  }
  return out
}

// Plain rc14 clients: the server as it was in 2025.
const emulator = await startEmulator(SERVER_2025)
const pid = emulator.proc.pid
console.log('emulator idle', usage(pid))

let t = Date.now()
const logins = await inBatches(total, () => pairByQr(emulator))
console.log(`paired ${total} in ${Date.now() - t} ms`, usage(pid))

t = Date.now()
const sessions = await inBatches(total, i => openSession(emulator, logins[i].auth, { keepAliveIntervalMs: 10_000 }))
console.log(`opened ${sessions.length} sessions in ${Date.now() - t} ms`, usage(pid))

const before = usage(pid)
await new Promise(resolve => setTimeout(resolve, holdSeconds * 1000))
const held = usage(pid)
const state = (await emulator.call('GET', '/state')).body
const live = state.devices.reduce((n, d) => n + d.liveSockets, 0)
const maxLive = Math.max(...Object.values(state.maxLiveSocketsPerLogin))
const closed = sessions.filter(s => s.events.some(e => e.data.connection === 'close')).length
console.log(
  `held ${holdSeconds} s: live sockets ${live}, closed meanwhile ${closed}, max live per login ${maxLive},` +
    ` emulator CPU during hold ${(held.cpuSeconds - before.cpuSeconds).toFixed(2)} s, RSS ${held.rssMb} MB`
)
await emulator.stop()
process.exit(live === total && closed === 0 && maxLive === 1 ? 0 : 1)
