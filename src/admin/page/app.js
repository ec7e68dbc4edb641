"use strict";
// performance.mark("pw-jobs-rendered") placeholder
