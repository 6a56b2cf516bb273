// ListenerSet: the Watch/Unwatch/Notify part of a WorkerRegistry, shared by the in-memory and
// the Redis registry. Notify() calls every listener under a reader lock, so listeners may run on
// several threads at once; Remove() takes the writer lock, so once it returns the listener is not
// running and will not be called again (WorkerRegistry::Unwatch's promise). Internal header.
//
// Thread-safety: thread-safe. A listener must not call Add or Remove (it would deadlock).
#ifndef PWGRID_LIB_REGISTRY_LISTENER_SET_H_
#define PWGRID_LIB_REGISTRY_LISTENER_SET_H_

#include "lib/common/internal.h"

#include <cstdint>
#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "pwgrid/worker_registry.h"

namespace pwgrid::internal {

class ListenerSet {
 public:
  // Returns the id for Remove().
  int64_t Add(RegistryListener listener) {
    absl::WriterMutexLock lock(&mu_);
    const int64_t id = ++next_id_;
    listeners_.emplace(id, std::move(listener));
    return id;
  }
  void Remove(int64_t id) {
    absl::WriterMutexLock lock(&mu_);  // waits for listeners running now
    listeners_.erase(id);
  }
  void Notify(const RegistryEvent& event) {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [id, listener] : listeners_) listener(event);
  }

 private:
  absl::Mutex mu_;
  std::map<int64_t, RegistryListener> listeners_ ABSL_GUARDED_BY(mu_);
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_REGISTRY_LISTENER_SET_H_
