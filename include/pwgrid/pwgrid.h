// The whole public API of libpwgrid in one include. Hosts may include the individual headers
// instead; the testing support (pwgrid/testing/*.h, library pwgrid-testing) is not included.
#ifndef PWGRID_PWGRID_H_
#define PWGRID_PWGRID_H_

#include "pwgrid/auth.h"
#include "pwgrid/browser_server.h"
#include "pwgrid/clock.h"
#include "pwgrid/ip_network.h"
#include "pwgrid/local_pool.h"
#include "pwgrid/log_format.h"
#include "pwgrid/logging.h"
#include "pwgrid/queue_policy.h"
#include "pwgrid/redis_worker_registry.h"
#include "pwgrid/relay.h"
#include "pwgrid/selection_policy.h"
#include "pwgrid/selector.h"
#include "pwgrid/types.h"
#include "pwgrid/version.h"
#include "pwgrid/worker_agent.h"
#include "pwgrid/worker_registry.h"

#endif  // PWGRID_PWGRID_H_
