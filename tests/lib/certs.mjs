// A throwaway CA and a server certificate for 127.0.0.1 / localhost, made with
// the openssl CLI in a fresh temporary directory (the caller removes `dir`).

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** Resolves nothing: returns {dir, cert, key, caFile (paths), ca (the CA's PEM bytes)}. */
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
  return { dir, cert: f("srv.crt"), key: f("srv.key"), caFile: f("ca.crt"), ca: readFileSync(f("ca.crt")) };
}
