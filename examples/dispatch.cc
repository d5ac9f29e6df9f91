#include <cstddef>
#include <iostream>
#include <memory_resource>
#include <string>
#include <vector>

#include "corepy/dispatch.h"

int main() {
  std::vector<float> m = {1, 2, 3, 4, 5, 6};  // also a 2 x 3 matrix, row-major
  const float* data = m.data();
  std::size_t n = m.size(), rows = 2, cols = 3;
  std::pmr::unsynchronized_pool_resource my_resource;

  float s = corepy::sum_f32_cpu_dispatch(data, n);  // also sum_i32, mean_f32, all_bool, any_bool
  float k = corepy::sum_f32_compensated_cpu_dispatch(data, n);  // and mean_f32_compensated
  std::pmr::vector<float> r = corepy::sum_rows_f32_cpu_dispatch(data, rows, cols, &my_resource);
  // also sum_cols_f32, mean_rows_f32, mean_cols_f32: one result per row / per column
  std::string table = corepy::op_stats_table();  // calls, peak scratch, spills, arena size per op
  std::string json = corepy::op_stats_json();
  std::cout << table;

  if (s != 21 || k != 21 || r != std::pmr::vector<float>{6, 15}) return 1;
  if (json.find(R"({"op":"sum_f32","calls":1,)") == std::string::npos) return 1;
  return 0;
}
