// The emulator as a child process, for tests and benchmarks in Node: it prints one JSON line
// with its addresses when it is ready; `call` drives its control API.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const MAIN = fileURLToPath(new URL('./main.mjs', import.meta.url))

export const spawnEmulator = async (extraArgs = [], { verbose = false } = {}) => {
  const proc = spawn(process.execPath, [MAIN, '--host', '127.0.0.1', '--ws-port', '0', '--control-port', '0', ...extraArgs], {
    stdio: ['ignore', 'pipe', verbose ? 'inherit' : 'ignore']
  })
  const [line] = await Promise.race([
    once(createInterface({ input: proc.stdout }), 'line'),
    once(proc, 'exit').then(([code]) => Promise.reject(new Error(`emulator exited with ${code}`)))
  ])
  const info = JSON.parse(line)
  const call = async (method, path, body) => {
    const res = await fetch(info.controlUrl + path, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(15_000)
    })
    return { status: res.status, body: await res.json() }
  }
  const state = async () => (await call('GET', '/state')).body
  const stop = async () => {
    if (proc.exitCode !== null) return
    proc.kill('SIGTERM')
    await once(proc, 'exit')
  }
  return { info, proc, call, state, stop }
}
