#include "model/batch.h"

#include "util/error.h"

namespace edgerag {

const float* Logits::for_token(size_t batch_index) const {
  EDGERAG_CHECK(batch_index < row_of.size() && row_of[batch_index] >= 0,
                "batch token {} did not request logits", batch_index);
  return row(row_of[batch_index]);
}

}  // namespace edgerag
