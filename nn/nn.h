// The whole public nn/ API in one include: layers, Sequential, losses and metrics, callbacks,
// datasets and readers, optimizers, safetensors.
#pragma once

#include "nn/callbacks.h"
#include "nn/data/cifar10.h"
#include "nn/data/idx.h"
#include "nn/dataset.h"
#include "nn/initializers.h"
#include "nn/io/safetensors.h"
#include "nn/layer.h"
#include "nn/layers/batch_norm.h"
#include "nn/layers/conv.h"
#include "nn/layers/core.h"
#include "nn/losses.h"
#include "nn/sequential.h"
#include "optim/optimizers.h"
#include "optim/schedule.h"
#include "tensor/ops.h"
