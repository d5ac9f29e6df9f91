// Keeps fork() from copying a lock held by another thread into the child, where no thread
// would ever release it (a child of a process that forks while a thread is inside
// corepy_configure would hang in its first op). Each of corepy's process-wide mutexes is
// registered here; pthread_atfork handlers lock them all before fork() and unlock them in the
// parent and the child. They are leaf locks (none is held while another is taken), so the order
// they are taken in cannot deadlock.
#ifndef COREPY_COREPY_INTERNAL_FORK_GUARD_H_
#define COREPY_COREPY_INTERNAL_FORK_GUARD_H_

#include <mutex>

namespace corepy::internal {

// `mutex` must live as long as the process (corepy's are never destroyed).
void hold_across_fork(std::mutex& mutex);

}  // namespace corepy::internal

#endif  // COREPY_COREPY_INTERNAL_FORK_GUARD_H_
