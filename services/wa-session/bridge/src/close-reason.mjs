// Names for Baileys' disconnect codes, so wa-session's state machine does not parse messages.

const BY_CODE = {
  401: 'logged_out',
  403: 'forbidden',
  405: 'client_too_old',
  408: 'connection_lost',
  411: 'multidevice_mismatch',
  428: 'connection_closed',
  440: 'replaced',
  500: 'bad_session',
  503: 'unavailable',
  515: 'restart_required'
}

/**
 * The `closed` event's fields for Baileys' `lastDisconnect.error`.
 * `own` ({reason, message}) is set when the bridge itself ended the socket (stopped, fenced,
 * bridge_error) and then wins over whatever Baileys reports.
 */
export const describeClose = (error, own) => {
  const code = error?.output?.statusCode ?? null
  const message = error?.message ?? ''
  if (own) return { code, reason: own.reason, message: own.message }
  if (!error) return { code, reason: 'stopped', message }
  // 408 means both "QR refs attempts ended" and "connection lost"; only the message tells them apart.
  if (code === 408 && /QR refs attempts ended/i.test(message)) return { code, reason: 'qr_expired', message }
  return { code, reason: BY_CODE[code] ?? 'unknown', message }
}
