'use strict';
// The cluster scenarios of cluster.test.js on the sharded adapter (wsio-server
// --redis-adapter sharded; Node's createShardedAdapter, subscriptionMode "dynamic"):
// SPUBLISH/SSUBSCRIBE on one Redis 7 node. The same pairs (CLUSTER_PAIRS), the same
// faults (Redis killed and restarted, a node killed).
//
//   WSIO_SERVER=build/wsio-server node --test tests/cluster/sharded.test.js

process.env.CLUSTER_ADAPTER = 'sharded';
require('./cluster.test.js');
