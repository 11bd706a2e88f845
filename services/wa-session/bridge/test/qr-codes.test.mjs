// The qr events of one socket: numbering, lifetimes, and the adv secret rewritten after a refresh.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createQrCodes } from '../src/qr-codes.mjs'

const qrOf = (ref, adv) => `https://wa.me/settings/linked_devices#${ref},NOISE=,IDENTITY=,${adv},1`

test("Baileys' lifetimes, then the current QR again with the new secret for the rest of its life", () => {
  const codes = createQrCodes({})
  assert.deepEqual(codes.shown(qrOf('2@a', 'OLD='), 1_000), { qr: qrOf('2@a', 'OLD='), index: 1, ttlMs: 60_000 })
  assert.deepEqual(codes.shown(qrOf('2@b', 'OLD='), 61_000), { qr: qrOf('2@b', 'OLD='), index: 2, ttlMs: 20_000 })
  assert.deepEqual(codes.rotated('NEW=', 66_000), { qr: qrOf('2@b', 'NEW='), index: 2, ttlMs: 15_000, refresh: true })
  assert.deepEqual(codes.shown(qrOf('2@c', 'OLD='), 81_000), { qr: qrOf('2@c', 'NEW='), index: 3, ttlMs: 20_000 }, 'later QRs too')
  assert.equal(codes.rotated('NEWER=', 101_000), null, 'nothing on screen any more: nothing to show again')
  assert.equal(codes.shown(qrOf('2@d', 'OLD='), 101_500).qr, qrOf('2@d', 'NEWER='))
})

test('a configured lifetime applies to every QR; a refresh before the first QR only changes later ones', () => {
  const codes = createQrCodes({ qrTimeoutMs: 1_500 })
  assert.equal(codes.rotated('NEW=', 0), null)
  assert.deepEqual(codes.shown(qrOf('2@a', 'OLD='), 10), { qr: qrOf('2@a', 'NEW='), index: 1, ttlMs: 1_500 })
})
