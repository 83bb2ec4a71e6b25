"""The same idea in Keras: SeparableConv2D is the depthwise-separable form of Conv2D."""
from tensorflow import keras
from tensorflow.keras import layers

model = keras.Sequential([
    keras.Input(shape=(224, 224, 3)),
    layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False),
    layers.BatchNormalization(),
    layers.ReLU(),
    layers.Conv2D(64, 3, padding="same"),
    layers.DepthwiseConv2D(3, padding="same"),
    layers.SeparableConv2D(128, 3, strides=2, padding="same"),
])
