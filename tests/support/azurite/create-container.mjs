// Create a blob container in Azurite with the emulator's well-known account and key, signed
// with Shared Key as Azure Storage requires (Tessera's blob store never creates containers:
// an operator does, as in Azure). Usage: node create-container.mjs ENDPOINT ACCOUNT KEY NAME
// where ENDPOINT is http://127.0.0.1:PORT/ACCOUNT. Exits 0 when the container exists.
import { createHmac } from "node:crypto";

const [endpoint, account, key, container] = process.argv.slice(2);
const version = "2021-08-06";
const date = new Date().toUTCString();
const url = new URL(`${endpoint}/${container}?restype=container`);
// The Shared Key string to sign: the verb, eleven standard headers (all empty: a zero
// Content-Length is written empty), the canonical x-ms- headers, the canonical resource.
const stringToSign = [
  "PUT", "", "", "", "", "", "", "", "", "", "", "",
  `x-ms-date:${date}\nx-ms-version:${version}`,
  `/${account}${url.pathname}\nrestype:container`,
].join("\n");
const signature = createHmac("sha256", Buffer.from(key, "base64")).update(stringToSign, "utf8").digest("base64");
const response = await fetch(url, {
  method: "PUT",
  headers: {
    "x-ms-date": date,
    "x-ms-version": version,
    "content-length": "0",
    authorization: `SharedKey ${account}:${signature}`,
  },
});
if (response.status === 201 || response.status === 409) {
  process.exit(0);
}
console.error(`create container ${container}: ${response.status} ${await response.text()}`);
process.exit(1);
