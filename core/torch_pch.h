// Precompiled header for the torch-heavy translation units (one per target).
#pragma once
#include <ATen/ATen.h>
#include <torch/nn.h>
#include <torch/utils.h>

#include <map>
#include <memory>
#include <string>
#include <vector>
