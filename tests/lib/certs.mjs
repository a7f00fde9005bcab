// A throwaway CA and a server certificate for 127.0.0.1 / localhost, made with
// the openssl CLI in a fresh temporary directory (the caller removes `dir`).

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** Returns {dir, cert, key, caFile, clientCert, clientKey (paths), ca (the CA's PEM bytes)};
 * the client certificate (CN "sioc test client", clientAuth) is signed by the same CA. */
export function makeTestCerts(prefix = "sioc-tls-", cn = "sioc test CA") {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const f = (n) => path.join(dir, n);
  const ssl = (...args) => execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f("ca.key"),
    "-out", f("ca.crt"), "-days", "2", "-subj", `/CN=${cn}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f("srv.key"),
    "-out", f("srv.csr"), "-subj", "/CN=127.0.0.1");
  writeFileSync(f("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
  ssl("x509", "-req", "-in", f("srv.csr"), "-CA", f("ca.crt"), "-CAkey", f("ca.key"), "-CAcreateserial",
    "-out", f("srv.crt"), "-days", "2", "-extfile", f("ext.cnf"));
  ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f("client.key"),
    "-out", f("client.csr"), "-subj", "/CN=sioc test client");
  writeFileSync(f("client.cnf"), "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
  ssl("x509", "-req", "-in", f("client.csr"), "-CA", f("ca.crt"), "-CAkey", f("ca.key"), "-CAcreateserial",
    "-out", f("client.crt"), "-days", "2", "-extfile", f("client.cnf"));
  return { dir, cert: f("srv.crt"), key: f("srv.key"), caFile: f("ca.crt"), clientCert: f("client.crt"), clientKey: f("client.key"),
    ca: readFileSync(f("ca.crt")) };
}
