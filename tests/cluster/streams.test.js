'use strict';
// The cluster scenarios of cluster.test.js on the streams adapter (wsio-server
// --redis-adapter streams; Node's @socket.io/redis-streams-adapter 0.3.x): broadcasts
// and room changes through the Redis stream "socket.io", requests and responses through
// pub/sub. The same pairs (CLUSTER_PAIRS), the same faults (Redis killed and restarted,
// a node killed).
//
//   WSIO_SERVER=build/wsio-server node --test tests/cluster/streams.test.js

process.env.CLUSTER_ADAPTER = 'streams';
require('./cluster.test.js');
