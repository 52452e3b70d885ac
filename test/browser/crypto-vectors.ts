/** HMAC-SHA256 inputs shared by the Node.js and the Chromium tests of the crypto stand-in (hex). */

/** RFC 4231 test cases 1, 2, 6 and 7 (short key, text key, keys longer than the block). */
export const RFC4231 = [
  {
    key: '0b'.repeat(20),
    data: Buffer.from('Hi There').toString('hex'),
    mac: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
  },
  {
    key: Buffer.from('Jefe').toString('hex'),
    data: Buffer.from('what do ya want for nothing?').toString('hex'),
    mac: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
  },
  {
    key: 'aa'.repeat(131),
    data: Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First').toString('hex'),
    mac: '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
  },
  {
    key: 'aa'.repeat(131),
    data: Buffer.from(
      'This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.',
    ).toString('hex'),
    mac: '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
  },
];

/** The handshake's shape: a role string, two nonces, ids; plus empty and non-ASCII parts. */
export const HMAC_CASES: ReadonlyArray<{ key: string; parts: readonly string[] }> = [
  {
    key: '74'.repeat(32),
    parts: ['text:collective-tcp/worker', '11'.repeat(16), '22'.repeat(16), '0000000300000004'],
  },
  { key: '', parts: [] },
  { key: '01', parts: ['', 'text:', ''] },
  { key: 'ff'.repeat(64), parts: ['text:ünïcode ✓ 😀', '00'] },
  { key: 'ab'.repeat(65), parts: ['cd'.repeat(200), 'text:x'] },
];
