// Regenerates es6_numbers.txt: "hex-ieee,expected" lines, where expected is what
// ECMAScript (here node's JSON.stringify) writes for the double whose IEEE 754 bits are hex.
// Fixed seed (xorshift64), so the file is reproducible: node numgen.js > es6_numbers.txt
"use strict";
const buf = new DataView(new ArrayBuffer(8));
let s = 0x9e3779b97f4a7c15n;
function next() {
  s ^= (s << 13n) & 0xffffffffffffffffn;
  s ^= s >> 7n;
  s ^= (s << 17n) & 0xffffffffffffffffn;
  return s;
}
function line(bits) {
  buf.setBigUint64(0, bits);
  const x = buf.getFloat64(0);
  if (!Number.isFinite(x)) return;
  console.log(bits.toString(16).padStart(16, "0") + "," + JSON.stringify(x));
}
function num(x) {
  buf.setFloat64(0, x);
  line(buf.getBigUint64(0));
}
// Edge cases: zero, subnormals, extremes, 2^53 neighbours, the layout boundaries.
for (const x of [0, -0, 5e-324, -5e-324, 1.7976931348623157e308, 2.2250738585072014e-308,
                 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 0.1, 0.2, 0.3, 1 / 3]) num(x);
for (let e = -30; e <= 30; e++) {
  for (const m of [1, 1.5, 9.999999999999999, 123456789, 0.1]) {
    num(m * 10 ** e);
    num(-m * 10 ** e);
    num(Number(m + "e" + e));
  }
}
// Uniformly random bit patterns (every exponent), and random "nice" decimals.
for (let i = 0; i < 3000; i++) line(next());
for (let i = 0; i < 1500; i++) {
  const digits = Number(next() % 17n) + 1;
  const exp = Number(next() % 50n) - 25;
  const mant = Number(next() % (10n ** BigInt(digits)));
  num(Number(mant + "e" + exp));
}
