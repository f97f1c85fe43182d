'use strict';
// The cluster scenarios of cluster.test.js on the sharded adapter in subscriptionMode
// static (the namespace's channel only: every broadcast on socket.io#nsp#): wsio-server --redis-adapter sharded --redis-subscription-mode static, Node's
// createShardedAdapter(pub, sub, { subscriptionMode: 'static' }), on one Redis 7.
//
//   WSIO_SERVER=build/wsio-server node --test tests/cluster/sharded-static.test.js

process.env.CLUSTER_ADAPTER = 'sharded';
process.env.CLUSTER_SUB_MODE = 'static';
require('./cluster.test.js');
