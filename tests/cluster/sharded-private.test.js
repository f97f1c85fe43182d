'use strict';
// The cluster scenarios of cluster.test.js on the sharded adapter in subscriptionMode
// dynamic-private (a channel per room, socket-id rooms included): wsio-server --redis-adapter sharded --redis-subscription-mode dynamic-private, Node's
// createShardedAdapter(pub, sub, { subscriptionMode: 'dynamic-private' }), on one Redis 7.
//
//   WSIO_SERVER=build/wsio-server node --test tests/cluster/sharded-private.test.js

process.env.CLUSTER_ADAPTER = 'sharded';
process.env.CLUSTER_SUB_MODE = 'dynamic-private';
require('./cluster.test.js');
