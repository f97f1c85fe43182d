'use strict';
// The sharded adapter's scenarios (sharded.test.js) on a Redis Cluster of three masters
// on loopback (tests/cluster/redis.js startRedisCluster: redis-server
// --cluster-enabled yes, redis-cli --cluster create, no replicas): channels spread over
// the masters by slot, so a wsio node keeps a connection pair per master. Faults: the
// whole cluster killed and restarted, one master killed and restarted, a node killed.
//
//   WSIO_SERVER=build/wsio-server node --test tests/cluster/sharded-rcluster.test.js

process.env.CLUSTER_ADAPTER = 'sharded';
process.env.CLUSTER_REDIS = 'cluster';
require('./cluster.test.js');
