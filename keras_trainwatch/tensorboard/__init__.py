"""What the watch writes to TensorBoard, and reading it back: the tag
names (`tags`), the writer (`writer`) and the reader (`reader`)."""
