// A small persistent thread pool for the CPU backend: parallel_for splits [begin, end) into
// contiguous chunks of at least `grain` items across the hardware threads. Nested calls run
// serially. TILENET_CPU_THREADS overrides the thread count.
#pragma once

#include <cstdint>
#include <functional>

namespace tilenet {

int cpu_threads();
// fn(chunk_begin, chunk_end) is called for disjoint chunks covering [begin, end).
void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& fn);

}  // namespace tilenet
