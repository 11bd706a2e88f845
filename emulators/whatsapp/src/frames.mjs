// WebSocket byte stream <-> frames: the client's intro header once, then 3-byte big-endian
// length-prefixed frames (several may share one WebSocket message, one may span several).
import { NOISE_WA_HEADER } from 'baileys'

const ROUTING_PREFIX = Buffer.from('ED')
const EMPTY = Buffer.alloc(0)

export class FrameReader {
  constructor() {
    this.buffer = EMPTY
    this.introHeader = null
  }

  /** Appends received bytes and returns the complete frames now available. */
  push(data) {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, data]) : Buffer.from(data)
    if (!this.introHeader && !this.skipIntro()) return []
    const frames = []
    while (this.buffer.length >= 3) {
      const size = (this.buffer[0] << 16) | (this.buffer[1] << 8) | this.buffer[2]
      if (this.buffer.length < size + 3) break
      frames.push(this.buffer.subarray(3, size + 3))
      this.buffer = this.buffer.subarray(size + 3)
    }
    // don't let an idle socket pin the last (possibly large) WebSocket message
    if (!this.buffer.length) this.buffer = EMPTY
    return frames
  }

  /** Consumes (and keeps, for the Noise hash) "WA" + version (or the "ED" routing header before it); false while incomplete. */
  skipIntro() {
    let offset = 0
    if (this.buffer.subarray(0, 2).equals(ROUTING_PREFIX)) {
      if (this.buffer.length < 7) return false
      offset = 7 + ((this.buffer[4] << 16) | this.buffer.readUInt16BE(5))
    }
    if (this.buffer.length < offset + NOISE_WA_HEADER.length) return false
    const header = this.buffer.subarray(offset, offset + NOISE_WA_HEADER.length)
    if (header[0] !== NOISE_WA_HEADER[0] || header[1] !== NOISE_WA_HEADER[1]) {
      throw new Error(`bad intro header ${header.toString('hex')}`)
    }
    this.introHeader = Buffer.from(header)
    this.buffer = this.buffer.subarray(offset + NOISE_WA_HEADER.length)
    return true
  }
}

export const encodeFrame = data => {
  const frame = Buffer.allocUnsafe(3 + data.length)
  frame[0] = (data.length >>> 16) & 0xff
  frame[1] = (data.length >>> 8) & 0xff
  frame[2] = data.length & 0xff
  frame.set(data, 3)
  return frame
}
