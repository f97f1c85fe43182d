'use strict';
// tests/deploy/helpers.js — what the nginx tests share (nginx.test.js runs
// docs/nginx/wsio.conf, cluster.test.js docs/nginx/wsio-cluster.conf): the sample's lines
// that a test must change, swapped exactly once each, and the minimal nginx.conf that
// keeps everything under one prefix dir and includes the sample. Not a test file itself
// (node --test picks *.test.js).
//
//   const swapOnce = swapper(SAMPLE, __filename);   // swapOnce(text, re, to, what)
//   fs.writeFileSync(path.join(tmp, 'nginx.conf'), mainConfig(tmp, 'wsio.conf', "'$request_uri'"));

const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');

/* swapOnce(text, re, to, what) for the sample at `sample`: replaces the one match of re;
 * throws naming the doc line, and that the sample and `testFile` go together, when it
 * is not there exactly once (so the test breaks loudly if the doc is edited out of its
 * shape). */
function swapper(sample, testFile) {
  return (text, re, to, what) => {
    const n = (text.match(new RegExp(re.source, 'gm')) || []).length;
    if (n !== 1) {
      throw new Error(`${path.relative(ROOT, sample)}: expected exactly one ${what} (/${re.source}/), found ${n}; ` +
        `the sample config and ${path.relative(ROOT, testFile)} must be changed together`);
    }
    return text.replace(new RegExp(re.source, 'm'), to);
  };
}

/* A full nginx.conf for a prefix dir: everything under it, the access log in logFormat
 * (an nginx log_format string, quoted), the site file `site` in dir as included. */
function mainConfig(dir, site, logFormat) {
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 1024; }
http {
    default_type application/octet-stream;
    client_body_temp_path ${dir}/tmp/client_body;
    proxy_temp_path ${dir}/tmp/proxy;
    fastcgi_temp_path ${dir}/tmp/fastcgi;
    uwsgi_temp_path ${dir}/tmp/uwsgi;
    scgi_temp_path ${dir}/tmp/scgi;
    log_format test ${logFormat};
    access_log ${dir}/access.log test;
    include ${dir}/${site};
}
`;
}

module.exports = { swapper, mainConfig };
