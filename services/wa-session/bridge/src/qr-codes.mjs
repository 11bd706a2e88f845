// The QR codes of one socket as wa-session sees them: numbered from 1, each with how long it lives,
// and, once a companion_reg_refresh has rotated the adv secret, carrying the new secret. Baileys
// builds every QR of a pair-device batch with the secret it read when the batch came, so this
// rewrites the adv field (the 4th of `…#ref,noiseKey,identityKey,advSecret,platformId`).

const FIRST_QR_MS = 60_000
const NEXT_QR_MS = 20_000
const ADV_SECRET_FIELD = 3

export const createQrCodes = ({ qrTimeoutMs }) => {
  let index = 0
  let current = null // { qr, index, expiresAt }
  let advSecret = null // set by the first rotation

  const withAdvSecret = qr => {
    const fields = qr.split(',')
    if (!advSecret || fields.length !== 5) return qr
    fields[ADV_SECRET_FIELD] = advSecret
    return fields.join(',')
  }

  return {
    /** A QR Baileys emitted: the `qr` event's fields. */
    shown(qr, now = Date.now()) {
      index += 1
      const ttlMs = qrTimeoutMs || (index === 1 ? FIRST_QR_MS : NEXT_QR_MS)
      current = { qr: withAdvSecret(qr), index, expiresAt: now + ttlMs }
      return { qr: current.qr, index, ttlMs }
    },

    /**
     * The adv secret was rotated: later QRs carry it, and the one on screen is shown again with it
     * for the rest of its life (its `qr` event fields, with `refresh: true`; null when none is on screen).
     */
    rotated(secret, now = Date.now()) {
      advSecret = secret
      if (!current || current.expiresAt <= now) return null
      current.qr = withAdvSecret(current.qr)
      return { qr: current.qr, index: current.index, ttlMs: current.expiresAt - now, refresh: true }
    }
  }
}
